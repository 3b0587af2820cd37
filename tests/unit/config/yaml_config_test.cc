#include "config/yaml_config.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace freshfs::config {
namespace {

using std::chrono::milliseconds;

std::string Apply(std::string_view yaml, Options& options) {
  return ApplyYamlText(yaml, "/x.yaml", options).value_or("");
}

std::string Error(std::string_view yaml) {
  Options options;
  auto error = ApplyYamlText(yaml, "/x.yaml", options);
  EXPECT_TRUE(error.has_value()) << "accepted:\n" << yaml;
  return error.value_or("");
}

TEST(YamlConfig, SetsEveryKey) {
  Options o;
  EXPECT_EQ(Apply("source: file:///srv/data\n"
                  "foreground: true\n"
                  "read-only: yes\n"
                  "allow-other: true\n"
                  "uid: 1000\n"
                  "gid: 100\n"
                  "file-mode: 0644\n"
                  "dir-mode: \"0755\"\n"
                  "entry-timeout: 5s\n"
                  "attr-timeout: 1m30s\n"
                  "negative-timeout: 0\n"
                  "kernel-cache: true\n"
                  "debug: true\n"
                  "log-format: json\n"
                  "log-file: /var/log/freshfs.log\n"
                  "max-threads: 8\n"
                  "ready-fd: 3\n",
                  o),
            "");
  EXPECT_EQ(o.source, "file:///srv/data");
  EXPECT_TRUE(o.foreground);
  EXPECT_TRUE(o.read_only);
  EXPECT_TRUE(o.allow_other);
  EXPECT_EQ(o.uid, uid_t{1000});
  EXPECT_EQ(o.gid, gid_t{100});
  EXPECT_EQ(o.file_mode, mode_t{0644});  // octal even though YAML 1.2 would say decimal
  EXPECT_EQ(o.dir_mode, mode_t{0755});
  EXPECT_EQ(o.entry_timeout, milliseconds{5'000});
  EXPECT_EQ(o.attr_timeout, milliseconds{90'000});
  EXPECT_EQ(o.negative_timeout, milliseconds{0});
  EXPECT_TRUE(o.kernel_cache);
  EXPECT_TRUE(o.debug);
  EXPECT_EQ(o.log_format, LogFormat::kJson);
  EXPECT_EQ(o.log_file, "/var/log/freshfs.log");
  EXPECT_EQ(o.max_threads, 8u);
  EXPECT_EQ(o.ready_fd, 3);
}

TEST(YamlConfig, EmptyOrCommentOnlyFileChangesNothing) {
  Options o;
  EXPECT_EQ(Apply("", o), "");
  EXPECT_EQ(Apply("# nothing yet\n", o), "");
  EXPECT_EQ(o.entry_timeout, Options{}.entry_timeout);
}

TEST(YamlConfig, UnknownKeyNamesLineAndSuggestion) {
  EXPECT_EQ(
      Error("read-only: true\nuid: 1\nentry-timout: 5s\n"),
      "config /x.yaml line 3: unknown key \"entry-timout\" (did you mean \"entry-timeout\"?)");
  EXPECT_EQ(Error("read_only: true\n"),
            "config /x.yaml line 1: unknown key \"read_only\" (did you mean \"read-only\"?)");
}

TEST(YamlConfig, UnknownKeyWithoutCloseMatchHasNoSuggestion) {
  EXPECT_EQ(Error("\n\nbucket: foo\n"), "config /x.yaml line 3: unknown key \"bucket\"");
}

TEST(YamlConfig, CommandLineOnlyKeysAreRejected) {
  EXPECT_EQ(Error("config: /other.yaml\n"),
            "config /x.yaml line 1: \"config\" cannot be set in a config file");
  EXPECT_EQ(Error("uid: 1\nhelp: true\n"),
            "config /x.yaml line 2: \"help\" cannot be set in a config file");
}

TEST(YamlConfig, BadValuesNameKeyAndLine) {
  EXPECT_EQ(Error("uid: 1\nentry-timeout: 5x\n"),
            "config /x.yaml line 2: entry-timeout \"5x\": unknown unit \"x\" (use ms, s, m or h)");
  EXPECT_EQ(Error("uid: abc\n"), "config /x.yaml line 1: uid \"abc\": not a number");
  EXPECT_EQ(Error("read-only: maybe\n"),
            "config /x.yaml line 1: read-only \"maybe\": not a boolean (use true or false)");
  EXPECT_EQ(Error("file-mode: 0999\n"),
            "config /x.yaml line 1: file-mode \"0999\": not an octal mode (e.g. 0644)");
  EXPECT_EQ(Error("max-threads: 0\n"),
            "config /x.yaml line 1: max-threads \"0\": must be between 1 and 1024");
  EXPECT_EQ(Error("source: s3://x\n"),
            "config /x.yaml line 1: source \"s3://x\": bucket name \"x\" must be 3 to 255 "
            "characters (s3://bucket[/prefix])");
  EXPECT_EQ(Error("cache-size: -1\n"),
            "config /x.yaml line 1: cache-size \"-1\": must not be negative");
}

TEST(YamlConfig, WrongValueTypesNameKeyAndLine) {
  EXPECT_EQ(Error("uid: [1, 2]\n"),
            "config /x.yaml line 1: uid: expected a single value, got a list");
  EXPECT_EQ(Error("debug: true\nlog-file:\n  path: /x\n"),
            "config /x.yaml line 2: log-file: expected a single value, got a mapping");
  EXPECT_EQ(Error("gid: 5\nuid:\n"), "config /x.yaml line 2: uid: missing value");
  EXPECT_EQ(Error("uid: ~\n"), "config /x.yaml line 1: uid: missing value");
}

TEST(YamlConfig, DuplicateKeyNamesBothLines) {
  EXPECT_EQ(Error("uid: 1\ngid: 2\nuid: 3\n"),
            "config /x.yaml line 3: duplicate key \"uid\" (first set on line 1)");
}

TEST(YamlConfig, TopLevelMustBeAMapping) {
  EXPECT_EQ(Error("- uid: 1\n"),
            "config /x.yaml line 1: expected a mapping of option names to values, got a list");
  EXPECT_EQ(Error("just text\n"),
            "config /x.yaml line 1: expected a mapping of option names to values, got a single "
            "value");
}

TEST(YamlConfig, NonScalarKey) {
  EXPECT_EQ(Error("uid: 1\n? [a, b]\n: 2\n"), "config /x.yaml line 2: keys must be option names");
}

TEST(YamlConfig, SyntaxErrorNamesLine) {
  const std::string error = Error("uid: 1\ngid: 2\n  bad: indent\n");
  EXPECT_EQ(error.rfind("config /x.yaml line 3: invalid YAML: ", 0), 0u) << error;
  const std::string flow = Error("uid: {1\n");
  EXPECT_EQ(flow.rfind("config /x.yaml line ", 0), 0u) << flow;
  EXPECT_NE(flow.find("invalid YAML"), std::string::npos) << flow;
}

// Found by tests/fuzz/yaml_config_fuzz.cc: yaml-cpp puts the offending byte
// of the file into its message raw, here a newline.
TEST(YamlConfig, SyntaxErrorIsOneLine) {
  using namespace std::string_literals;
  const std::string error = Error("source: /srv/data\x01\0\nentry-timeout: 5ument\n"s);
  EXPECT_EQ(error.rfind("config /x.yaml line ", 0), 0u) << error;
  EXPECT_NE(error.find(": invalid YAML: "), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

// Found by tests/fuzz/yaml_config_fuzz.cc: with yaml-cpp 0.7's LoadAll()
// these looped forever, allocating until the process was killed.
TEST(YamlConfig, StrayCommaIsAnErrorNotAHang) {
  EXPECT_EQ(Error(","), "config /x.yaml line 1: invalid YAML: unexpected \",\"");
  EXPECT_EQ(Error(",,,,,,,,,,,,,,,,,,,,,,,,,,,se: "),
            "config /x.yaml line 1: invalid YAML: unexpected \",\"");
}

TEST(YamlConfig, MultipleDocumentsAreRejected) {
  EXPECT_EQ(Error("uid: 1\n---\ngid: 2\n"), "config /x.yaml line 3: more than one YAML document");
}

TEST(YamlConfig, ErrorsAreOneLine) {
  for (const char* yaml : {"uid: {1\n", "a: [\n", "entry-timeout: |\n  5x\n  6y\n"}) {
    const std::string error = Error(yaml);
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

class YamlFile : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  freshfs::testing::TempDir tmp_{"yaml"};
  std::string dir_ = tmp_.str();
};

TEST_F(YamlFile, ReadsFile) {
  const std::string path = Write("ok.yaml", "uid: 7\nkernel-cache: true\n");
  Options o;
  EXPECT_EQ(ApplyYamlFile(path, o), std::nullopt);
  EXPECT_EQ(o.uid, uid_t{7});
  EXPECT_TRUE(o.kernel_cache);
}

TEST_F(YamlFile, ErrorsNameThePath) {
  const std::string path = Write("bad.yaml", "uid: 7\nuidd: 8\n");
  Options o;
  EXPECT_EQ(ApplyYamlFile(path, o),
            "config " + path + " line 2: unknown key \"uidd\" (did you mean \"uid\"?)");
}

TEST_F(YamlFile, MissingFile) {
  Options o;
  const std::string path = dir_ + "/missing.yaml";
  EXPECT_EQ(ApplyYamlFile(path, o), "config " + path + ": cannot open: No such file or directory");
}

TEST_F(YamlFile, DirectoryInsteadOfFile) {
  Options o;
  EXPECT_EQ(ApplyYamlFile(dir_, o), "config " + dir_ + ": cannot read: Is a directory");
}

TEST_F(YamlFile, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files regardless of their mode";
  const std::string path = Write("secret.yaml", "uid: 1\n");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  Options o;
  EXPECT_EQ(ApplyYamlFile(path, o), "config " + path + ": cannot open: Permission denied");
}

}  // namespace
}  // namespace freshfs::config
