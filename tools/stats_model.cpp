#include "stats_model.h"

#include <charconv>

namespace hakmem_cli {

namespace {

// One table drives both reading and writing, so the two cannot drift apart.
template <typename Record>
struct Field {
  const char* name;
  std::uint64_t Record::*member;
};

constexpr Field<ClassStats> kClassFields[] = {
    {"class", &ClassStats::index},
    {"block_size", &ClassStats::block_size},
    {"slabs", &ClassStats::slabs},
    {"blocks_in_use", &ClassStats::blocks_in_use},
    {"blocks_free", &ClassStats::blocks_free},
    {"bytes_in_use", &ClassStats::bytes_in_use},
    {"bytes_free", &ClassStats::bytes_free},
    {"remote_frees", &ClassStats::remote_frees},
    {"drains", &ClassStats::drains},
    {"adopts", &ClassStats::adopts},
    {"refill_own_remote", &ClassStats::refill_own_remote},
    {"refill_sticky", &ClassStats::refill_sticky},
    {"refill_mailbox", &ClassStats::refill_mailbox},
    {"refill_adopt", &ClassStats::refill_adopt},
    {"refill_gate", &ClassStats::refill_gate},
    {"refill_fresh", &ClassStats::refill_fresh},
};

constexpr Field<Stats> kTotalFields[] = {
    {"superslabs", &Stats::superslabs},
    {"superslabs_peak", &Stats::superslabs_peak},
    {"large_blocks", &Stats::large_blocks},
    {"large_bytes", &Stats::large_bytes},
    {"large_cached_bytes", &Stats::large_cached_bytes},
    {"bytes_mapped", &Stats::bytes_mapped},
    {"bytes_mapped_peak", &Stats::bytes_mapped_peak},
    {"bytes_purged", &Stats::bytes_purged},
    {"rss_bytes", &Stats::rss_bytes},
    {"rss_peak_bytes", &Stats::rss_peak_bytes},
    {"threads_live", &Stats::threads_live},
    {"threads_exited", &Stats::threads_exited},
    {"os_maps", &Stats::os_maps},
    {"os_unmaps", &Stats::os_unmaps},
};

const json::Value& require(const json::Value& object, const char* key, const std::string& where) {
  const json::Value* v = object.find(key);
  if (v == nullptr) throw SchemaError(where + ": missing field \"" + key + "\"");
  return *v;
}

std::uint64_t require_count(const json::Value& object, const char* key, const std::string& where) {
  const json::Value& v = require(object, key, where);
  std::string path = where + "." + key;
  if (v.kind != json::Kind::number)
    throw SchemaError(path + ": expected a non-negative integer, found " + json::kind_name(v.kind));
  std::uint64_t n = 0;
  const char* first = v.text.data();
  const char* last = first + v.text.size();
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec == std::errc::result_out_of_range)
    throw SchemaError(path + ": " + v.text + " does not fit in 64 bits");
  if (ec != std::errc() || end != last)
    throw SchemaError(path + ": expected a non-negative integer, found " + v.text);
  return n;
}

void expect_object(const json::Value& v, const std::string& where) {
  if (v.kind != json::Kind::object)
    throw SchemaError(where + ": expected an object, found " + json::kind_name(v.kind));
}

void append_field(std::string& out, const char* name, std::uint64_t value) {
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

Stats stats_from_json(const json::Value& root) {
  const std::string top = "stats";
  expect_object(root, top);
  Stats s;

  const json::Value& version = require(root, "hakmem", top);
  if (version.kind != json::Kind::string)
    throw SchemaError("stats.hakmem: expected the version string, found " +
                      std::string(json::kind_name(version.kind)));
  s.version = version.text;
  s.pid = require_count(root, "pid", top);
  std::uint64_t num_classes = require_count(root, "num_classes", top);

  const json::Value& classes = require(root, "classes", top);
  if (classes.kind != json::Kind::array)
    throw SchemaError("stats.classes: expected an array, found " + std::string(json::kind_name(classes.kind)));
  if (classes.items.size() != num_classes)
    throw SchemaError("stats.classes: has " + std::to_string(classes.items.size()) +
                      " entries but num_classes is " + std::to_string(num_classes));
  for (std::size_t i = 0; i < classes.items.size(); ++i) {
    std::string where = "stats.classes[" + std::to_string(i) + "]";
    expect_object(classes.items[i], where);
    ClassStats c;
    for (const auto& f : kClassFields) c.*f.member = require_count(classes.items[i], f.name, where);
    s.classes.push_back(c);
  }
  for (const auto& f : kTotalFields) s.*f.member = require_count(root, f.name, top);
  return s;
}

std::string stats_to_json(const Stats& s) {
  std::string out = "{\"hakmem\":";
  json::append_quoted(out, s.version);
  out += ',';
  append_field(out, "pid", s.pid);
  out += ',';
  append_field(out, "num_classes", s.classes.size());
  out += ",\"classes\":[";
  for (std::size_t i = 0; i < s.classes.size(); ++i) {
    out += i == 0 ? "\n{" : ",\n{";
    bool first = true;
    for (const auto& f : kClassFields) {
      if (!first) out += ',';
      first = false;
      append_field(out, f.name, s.classes[i].*f.member);
    }
    out += '}';
  }
  out += "]";
  for (const auto& f : kTotalFields) {
    out += ",\n";
    append_field(out, f.name, s.*f.member);
  }
  out += "}";
  return out;
}

}  // namespace hakmem_cli
