// ServerSpec's one field list (harness/spec/server_spec.hpp): what bench writes on its server
// child's command line, `bench serve` reads back into the same spec, for every field; `bench`
// refuses each of its own server knobs with --server-cmd; and the server's keys of the result
// JSON keep their names and order.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness/results/run_reporters.hpp"
#include "harness/spec/options.hpp"
#include "harness/spec/server_spec.hpp"

namespace mux {
namespace {

// Two specs that, between them, set every field `bench serve` takes to something not its default
// (a Unix socket has no host or port, and drawn work needs echo).
ServerSpec tcp_spec() {
  ServerSpec s;
  s.backend = "io_uring";
  s.host = "0.0.0.0";
  s.port = 8080;
  s.cpus = {0};
  s.backlog = 128;
  s.work_us = Distribution::parse("bimodal:0.9:0:2000");
  // Every knob one above its default, from the knob list: the round trip covers a new knob
  // with no line here.
#define MUX_KNOB_OFF_ITS_DEFAULT(type, member, default_value, ...) s.knobs.member = static_cast<type>(default_value + 1);
  MUX_SERVER_KNOBS(MUX_KNOB_OFF_ITS_DEFAULT)
#undef MUX_KNOB_OFF_ITS_DEFAULT
  s.threads = 2;
  s.processes = 3;
  s.accept = "handoff";
  return s;
}

ServerSpec unix_spec() {
  ServerSpec s;
  s.protocol = "http";
  s.transport = "unix";
  s.socket_path = "/tmp/muxbench-server-spec-test.sock";
  s.work_us = 5;
  s.accept = "shared";
  return s;
}

std::optional<ServeOptions> parse_serve(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"bench", "serve"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int code = 0;
  return parse_serve_options(static_cast<int>(argv.size()), argv.data(), code);
}

TEST(ServerSpec, ServeArgumentsParseBackToTheSameSpec) {
  for (const ServerSpec& spec : {tcp_spec(), unix_spec(), ServerSpec{}}) {
    const std::vector<std::string> flags = server_arguments(spec, ServerCommand::serve);
    const auto parsed = parse_serve(flags);
    ASSERT_TRUE(parsed.has_value()) << ::testing::PrintToString(flags);
    EXPECT_EQ(parsed->server, spec) << ::testing::PrintToString(flags);
  }
}

TEST(ServerSpec, TheRoundTripCoversEveryFieldOfBenchServe) {
  const ServerSpec defaults;
  for (const ServerField& f : server_fields()) {
    if ((f.uses & kServeFlag) == 0) continue;
    EXPECT_TRUE(f.text(tcp_spec()) != f.text(defaults) || f.text(unix_spec()) != f.text(defaults))
        << f.flag << ": give it a value other than its default in tcp_spec() or unix_spec()";
  }
}

TEST(ServerSpec, DefaultsAreLeftOffTheChildsCommandLine) {
  EXPECT_TRUE(server_arguments(ServerSpec{}, ServerCommand::serve).empty());
  ServerSpec spec;
  spec.knobs.read_size = 4096;
  EXPECT_EQ(server_arguments(spec, ServerCommand::serve), std::vector<std::string>{"--read-size=4096"});
}

TEST(ServerSpec, BenchRefusesItsOwnServerKnobsWithServerCmd) {
  for (const ServerField& f : server_fields()) {
    if ((f.uses & kOwnServerKnob) == 0 || (f.uses & kRunFlag) == 0) continue;
    std::vector<std::string> args = {"bench", "--server-cmd=srv {port}", f.flag + "=" + f.text(tcp_spec())};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = 0;
    ::testing::internal::CaptureStderr();
    const auto parsed = parse_run_options(static_cast<int>(argv.size()), argv.data(), code, run_output_flags());
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_FALSE(parsed.has_value()) << f.flag;
    EXPECT_EQ(code, 2) << f.flag;
    EXPECT_NE(err.find(f.flag + " configures bench's own servers, not a --server-cmd one"), std::string::npos) << err;
  }
}

// The keys and their order are the JSON schema's (results/README.md): a new field adds its key.
// The knobs' keys: each knob's flag, '-' written '_' (results/README.md: config.KNOB).
std::vector<std::string> knob_keys() {
  std::vector<std::string> keys;
#define MUX_TEST_KNOB_KEY(type, member, default_value, flag_name, ...) keys.emplace_back(flag_name);
  MUX_SERVER_KNOBS(MUX_TEST_KNOB_KEY)
#undef MUX_TEST_KNOB_KEY
  for (std::string& key : keys) {
    key.erase(0, 2);
    std::replace(key.begin(), key.end(), '-', '_');
  }
  return keys;
}

TEST(ServerSpec, JsonKeysOfTheServer) {
  nlohmann::ordered_json config;
  server_config_json(ServerSpec{}, ServerFacts{}, config);
  std::vector<std::string> keys;
  for (const auto& [key, value] : config.items()) keys.push_back(key);
  std::vector<std::string> expected{"transport",      "server_address", "target",          "target_is_local",
                                    "server_cpus",    "server_command", "server_work_us", "server_work_spec"};
  for (const std::string& knob : knob_keys()) expected.push_back(knob);
  for (const char* shape : {"server_threads", "server_processes", "accept"}) expected.emplace_back(shape);
  EXPECT_EQ(keys, expected);
  EXPECT_TRUE(std::find(keys.begin(), keys.end(), "read_size") != keys.end());
  EXPECT_TRUE(std::find(keys.begin(), keys.end(), "zc_threshold") != keys.end());
}

TEST(ServerSpec, JsonHasNoKnobsOfAServerBenchDidNotStart) {
  nlohmann::ordered_json own, other;
  const ServerSpec spec = tcp_spec();
  server_config_json(spec, ServerFacts{}, own);
  server_config_json(spec, ServerFacts{.own_server = false}, other);
  EXPECT_EQ(own["read_size"], spec.knobs.read_size);
  EXPECT_EQ(own["zc_threshold"], spec.knobs.zc_threshold);
  EXPECT_NE(spec.knobs.read_size, ServerKnobs{}.read_size);
  EXPECT_EQ(own["server_work_spec"], "bimodal:0.9:0:2000");
  EXPECT_TRUE(other["read_size"].is_null());
  EXPECT_TRUE(other["zc_threshold"].is_null());
  EXPECT_TRUE(other["server_work_spec"].is_null());
  EXPECT_EQ(other["server_cpus"], nlohmann::json::array({0}));
}

}  // namespace
}  // namespace mux
