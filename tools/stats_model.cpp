#include "stats_model.h"

#include <cmath>

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
  auto it = object.find(key);
  if (it == object.end()) throw SchemaError(where + ": missing field \"" + key + "\"");
  return *it;
}

std::uint64_t require_count(const json::Value& object, const char* key, const std::string& where) {
  const json::Value& v = require(object, key, where);
  std::string path = where + "." + key;
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (!v.is_number())
    throw SchemaError(path + ": expected a non-negative integer, found " + json::kind_name(v));
  // nlohmann reads an integer beyond 64 bits as a floating-point number.
  if (v.is_number_float() && v.get<double>() >= 18446744073709551616.0 && std::floor(v.get<double>()) == v.get<double>())
    throw SchemaError(path + ": an integer that does not fit in 64 bits (" + v.dump() + ")");
  throw SchemaError(path + ": expected a non-negative integer, found " + v.dump());
}

void expect_object(const json::Value& v, const std::string& where) {
  if (!v.is_object()) throw SchemaError(where + ": expected an object, found " + json::kind_name(v));
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
  if (!version.is_string())
    throw SchemaError("stats.hakmem: expected the version string, found " + std::string(json::kind_name(version)));
  s.version = version.get<std::string>();
  s.pid = require_count(root, "pid", top);
  std::uint64_t num_classes = require_count(root, "num_classes", top);

  const json::Value& classes = require(root, "classes", top);
  if (!classes.is_array())
    throw SchemaError("stats.classes: expected an array, found " + std::string(json::kind_name(classes)));
  if (classes.size() != num_classes)
    throw SchemaError("stats.classes: has " + std::to_string(classes.size()) + " entries but num_classes is " +
                      std::to_string(num_classes));
  for (std::size_t i = 0; i < classes.size(); ++i) {
    std::string where = "stats.classes[" + std::to_string(i) + "]";
    expect_object(classes[i], where);
    ClassStats c;
    for (const auto& f : kClassFields) c.*f.member = require_count(classes[i], f.name, where);
    s.classes.push_back(c);
  }
  for (const auto& f : kTotalFields) s.*f.member = require_count(root, f.name, top);
  return s;
}

std::string stats_to_json(const Stats& s) {
  std::string out = "{\"hakmem\":";
  out += json::dump_for_html(s.version);
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
