// A small program that is heavy on templates, for compiling under hakmem: variadic
// recursion, tuples, variants, ranges, maps of vectors. Its output is fixed.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

template <int N>
struct Fib {
  static constexpr uint64_t value = Fib<N - 1>::value + Fib<N - 2>::value;
};
template <>
struct Fib<0> {
  static constexpr uint64_t value = 0;
};
template <>
struct Fib<1> {
  static constexpr uint64_t value = 1;
};

template <typename... Ts>
constexpr size_t total_size() {
  return (sizeof(Ts) + ... + 0);
}

template <typename Tuple, size_t... I>
auto sum_tuple(const Tuple& t, std::index_sequence<I...>) {
  return (static_cast<double>(std::get<I>(t)) + ...);
}

template <typename T, size_t Depth>
struct Nest {
  using type = std::vector<typename Nest<T, Depth - 1>::type>;
};
template <typename T>
struct Nest<T, 0> {
  using type = T;
};

template <typename... Fs>
struct Overload : Fs... {
  using Fs::operator()...;
};
template <typename... Fs>
Overload(Fs...) -> Overload<Fs...>;

template <size_t... I>
constexpr auto squares(std::index_sequence<I...>) {
  return std::array<size_t, sizeof...(I)>{(I * I)...};
}

using Value = std::variant<int, double, std::string, std::vector<int>>;

std::string describe(const Value& v) {
  return std::visit(Overload{[](int i) { return "int " + std::to_string(i); },
                             [](double d) { return "double " + std::to_string(d); },
                             [](const std::string& s) { return "string " + s; },
                             [](const std::vector<int>& xs) {
                               return "vector of " + std::to_string(xs.size());
                             }},
                    v);
}

template <typename K, typename V>
std::map<V, std::vector<K>> invert(const std::unordered_map<K, V>& m) {
  std::map<V, std::vector<K>> out;
  for (const auto& [k, v] : m) out[v].push_back(k);
  for (auto& [v, ks] : out) std::sort(ks.begin(), ks.end());
  return out;
}

int main() {
  std::cout << "fib(80) = " << Fib<80>::value << "\n";
  std::cout << "sizes = " << total_size<char, int, double, std::string, std::map<int, int>>() << "\n";
  auto t = std::make_tuple(1, 2.5, 3u, 4L, 5.25f);
  std::cout << "tuple sum = " << sum_tuple(t, std::make_index_sequence<5>{}) << "\n";

  Nest<int, 3>::type cube(4, Nest<int, 2>::type(5, std::vector<int>(6, 1)));
  size_t cells = 0;
  for (auto& plane : cube)
    for (auto& row : plane) cells += static_cast<size_t>(std::accumulate(row.begin(), row.end(), 0));
  std::cout << "cube cells = " << cells << "\n";

  constexpr auto sq = squares(std::make_index_sequence<12>{});
  std::cout << "squares sum = " << std::accumulate(sq.begin(), sq.end(), size_t{0}) << "\n";

  std::vector<Value> values = {1, 2.5, std::string("hakmem"), std::vector<int>{1, 2, 3}, 42};
  for (const auto& v : values) std::cout << describe(v) << "\n";

  std::unordered_map<std::string, int> words;
  std::istringstream text(
      "the quick brown fox jumps over the lazy dog the dog barks and the fox runs "
      "over the hills while the quick dog sleeps");
  for (std::string w; text >> w;) ++words[w];
  for (const auto& [count, ws] : invert(words)) {
    std::cout << count << ":";
    for (const auto& w : ws) std::cout << " " << w;
    std::cout << "\n";
  }

  auto evens = std::views::iota(1, 200) | std::views::filter([](int x) { return x % 2 == 0; }) |
               std::views::transform([](int x) { return x * x; }) | std::views::take(10);
  for (int x : evens) std::cout << x << " ";
  std::cout << "\n";


  std::set<std::tuple<int, std::string, double>> ordered;
  for (int i = 0; i < 50; ++i) ordered.emplace(i % 7, "k" + std::to_string(i % 11), i * 0.5);
  double acc = 0;
  for (const auto& [a, b, c] : ordered) acc += a * c + static_cast<double>(b.size());
  std::cout << "ordered " << ordered.size() << " " << acc << "\n";

  std::optional<std::function<int(int)>> f = [](int x) { return x * 3 + 1; };
  std::cout << "f(14) = " << (*f)(14) << "\n";
  return 0;
}
