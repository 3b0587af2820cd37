// docs/configuration.md against the code: every freshfs-mount flag, YAML key
// and -o option, every freshfs-csi flag, every driver config key, volume
// attribute, StorageClass parameter and S3 secret key. Each test fails naming
// what the code has and the page lacks, and what the page lists and the code
// does not accept.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "code_probes.h"
#include "config/cli.h"
#include "config/options.h"
#include "config/yaml_config.h"
#include "csi/mount_args.h"
#include "csi/volume_context.h"
#include "doc_tables.h"
#include "support/process.h"

namespace freshfs::docs {
namespace {

const std::string kDoc = std::string(FRESHFS_SOURCE_DIR) + "/docs/configuration.md";

class ConfigurationDocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    doc_ = ReadTextFile(kDoc);
    ASSERT_FALSE(doc_.empty()) << kDoc << " is missing or empty";
  }
  std::vector<Row> Table(std::string_view heading) {
    std::vector<Row> rows = TableUnder(doc_, heading);
    EXPECT_FALSE(rows.empty()) << kDoc << ": no table under \"" << heading << "\"";
    return rows;
  }
  std::string doc_;
};

// The option column of a --help text: for each line that starts with an
// option, its spellings with their placeholder, e.g. "-f", "--foreground",
// "--uid N", "-o OPT[,OPT...]".
std::set<std::string> MountHelpOptions(const std::string& help) {
  std::set<std::string> options;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("  -") && !line.starts_with("      --")) continue;
    std::string column = line.substr(line.find('-'));
    column = column.substr(0, column.find("  "));
    for (size_t start = 0;;) {
      size_t comma = column.find(", ", start);
      options.insert(column.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 2;
    }
  }
  return options;
}

// CLI11's help: "  -h,--help   ...", "  --mode TEXT:{a,b}=node", "  --endpoint TEXT REQUIRED".
struct CliFlag {
  std::string default_value;  // after '=' in the type column
  bool required = false;
};
std::map<std::string, CliFlag> CsiHelpFlags(const std::string& help) {
  std::map<std::string, CliFlag> flags;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("  -")) continue;
    std::istringstream words(line);
    std::string names, type, required;
    words >> names >> type >> required;
    CliFlag flag;
    if (size_t eq = type.rfind('='); eq != std::string::npos)
      flag.default_value = type.substr(eq + 1);
    flag.required = type == "REQUIRED" || required == "REQUIRED";
    for (size_t start = 0;;) {
      size_t comma = names.find(',', start);
      flags[names.substr(start, comma == std::string::npos ? comma : comma - start)] = flag;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return flags;
}

// The first word of every code span starting with '-' in column 0.
std::set<std::string> FlagNames(const std::vector<Row>& rows) {
  std::set<std::string> names;
  for (const std::string& span : ColumnSpans(rows, 0)) {
    if (span.starts_with("-")) names.insert(span.substr(0, span.find(' ')));
  }
  return names;
}

// `"0644"` -> `0644`: examples are written as YAML strings.
std::string Unquoted(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

config::ParseResult Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "freshfs-mount");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return config::ParseCommandLine(static_cast<int>(argv.size()), argv.data(), "0");
}

TEST_F(ConfigurationDocTest, MountFlagsMatchTheHelpOfTheBinary) {
  auto run = testing::RunToCompletion({FRESHFS_MOUNT_BIN, "--help"});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
  const std::set<std::string> help = MountHelpOptions(run.stdout_text);
  ASSERT_GT(help.size(), 20u) << "could not read the option column of:\n" << run.stdout_text;

  std::set<std::string> documented;
  for (const std::string& span : ColumnSpans(Table("## freshfs-mount options"), 0)) {
    if (span.starts_with("-")) documented.insert(span);
  }
  EXPECT_EQ(Missing(help, documented), "")
      << "in `freshfs-mount --help` but not in the first column of \"## freshfs-mount options\"";
  EXPECT_EQ(Missing(documented, help), "")
      << "in \"## freshfs-mount options\" but not in `freshfs-mount --help` (wrong name or "
         "placeholder?)";
}

TEST_F(ConfigurationDocTest, EverySettingHasItsFlagAndYamlKeyOnOneRow) {
  const std::vector<Row> rows = Table("## freshfs-mount options");
  std::set<std::string> code_keys;
  for (const config::Setting& setting : config::Settings()) {
    const std::string name(setting.name);
    code_keys.insert(name);
    const Row* row = nullptr;
    for (const Row& r : rows) {
      if (r.size() > 1 && std::ranges::count(CodeSpans(r[1]), name) > 0) row = &r;
    }
    if (row == nullptr) {
      ADD_FAILURE() << "setting \"" << name << "\" has no row with YAML key `" << name << "`";
      continue;
    }
    if (setting.yaml_only) continue;
    std::set<std::string> flags;
    for (const std::string& span : CodeSpans((*row)[0]))
      flags.insert(span.substr(0, span.find(' ')));
    EXPECT_TRUE(flags.contains("--" + name)) << "row of YAML key " << name << " lacks --" << name;
    if (!setting.short_flag.empty()) {
      EXPECT_TRUE(flags.contains("-" + std::string(setting.short_flag)))
          << "row of --" << name << " lacks -" << setting.short_flag;
    }
  }
  const std::set<std::string> documented = ColumnSpans(rows, 1);
  EXPECT_EQ(Missing(documented, code_keys), "")
      << "YAML keys in the doc that config::Settings() does not know";
}

TEST_F(ConfigurationDocTest, EveryDocumentedYamlKeyIsAcceptedInAConfigFile) {
  for (const std::string& key : ColumnSpans(Table("## freshfs-mount options"), 1)) {
    config::Options options;
    auto error = config::ApplyYamlText(key + ": docs-probe\n", "probe.yaml", options);
    EXPECT_TRUE(!error || error->find("unknown key") == std::string::npos)
        << "YAML key " << key << ": " << *error;
  }
}

TEST_F(ConfigurationDocTest, DocumentedMountOptionsAreAccepted) {
  const std::vector<Row> rows = Table("## freshfs-mount mount options (-o)");
  const std::string config_file = ::testing::TempDir() + "docs-probe-config.yaml";
  std::ofstream(config_file) << "read-only: true\n";
  size_t checked = 0;
  for (std::string option : ColumnSpans(rows, 0)) {
    if (option.find("NAME") != std::string::npos) continue;  // the generic row, below
    if (option == "x-*") option = "x-systemd.automount";
    if (option == "comment=...") option = "comment=docs";
    if (option == "config=FILE") option = "config=" + config_file;
    auto parsed = Parse({"-o", option, "/srv/src", "/mnt/dst"});
    EXPECT_EQ(parsed.action, config::ParseResult::Action::kRun)
        << "-o " << option << " is documented but refused: " << parsed.output;
    ++checked;
  }
  EXPECT_GE(checked, 5u);
  // The generic row: every long option, spelled with '_'.
  for (const config::Setting& setting : config::Settings()) {
    if (setting.yaml_only) continue;
    std::string name(setting.name);
    std::replace(name.begin(), name.end(), '-', '_');
    auto parsed = Parse({"-o", name + "=docs-probe", "/srv/src", "/mnt/dst"});
    EXPECT_EQ(parsed.output.find("unknown -o option"), std::string::npos)
        << "-o " << name << " (documented as NAME=VALUE): " << parsed.output;
  }
}

TEST_F(ConfigurationDocTest, EveryMountOptionTheParserTakesIsDocumented) {
  const std::set<std::string> documented =
      ColumnSpans(Table("## freshfs-mount mount options (-o)"), 0);
  // mount(8)'s filesystem-independent options and FUSE's own.
  const std::vector<std::string> candidates = {
      "async",       "atime",        "noatime",       "auto",        "noauto",
      "defaults",    "dev",          "nodev",         "diratime",    "nodiratime",
      "dirsync",     "exec",         "noexec",        "group",       "nogroup",
      "iversion",    "noiversion",   "mand",          "nomand",      "_netdev",
      "nofail",      "relatime",     "norelatime",    "strictatime", "nostrictatime",
      "lazytime",    "nolazytime",   "suid",          "nosuid",      "silent",
      "loud",        "owner",        "noowner",       "remount",     "ro",
      "rw",          "sync",         "user",          "nouser",      "users",
      "nosymfollow", "bind",         "rbind",         "move",        "default_permissions",
      "fsname=x",    "subtype=x",    "max_read=4096", "blkdev",      "blksize=4096",
      "context=x",   "rootcontext=x"};
  for (const std::string& option : candidates) {
    if (Parse({"-o", option, "/srv/src", "/mnt/dst"}).action != config::ParseResult::Action::kRun)
      continue;
    EXPECT_TRUE(documented.contains(option))
        << "-o " << option << " is accepted but not in \"## freshfs-mount mount options (-o)\"";
  }
}

TEST_F(ConfigurationDocTest, CsiFlagsMatchTheHelpOfTheBinary) {
  auto run = testing::RunToCompletion({FRESHFS_CSI_BIN, "--help"});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
  const std::map<std::string, CliFlag> help = CsiHelpFlags(run.stdout_text);
  ASSERT_GT(help.size(), 5u) << "could not read the flags of:\n" << run.stdout_text;
  const std::vector<Row> rows = Table("## freshfs-csi flags");
  const std::set<std::string> documented = FlagNames(rows);

  std::set<std::string> in_help;
  for (const auto& [name, flag] : help) in_help.insert(name);
  EXPECT_EQ(Missing(in_help, documented), "")
      << "in `freshfs-csi --help` but not in \"## freshfs-csi flags\"";
  EXPECT_EQ(Missing(documented, in_help), "")
      << "in \"## freshfs-csi flags\" but not in `freshfs-csi --help`";

  for (const auto& [name, flag] : help) {
    const Row* row = nullptr;
    for (const Row& r : rows) {
      for (const std::string& span : CodeSpans(r[0])) {
        if (span.substr(0, span.find(' ')) == name) row = &r;
      }
    }
    if (row == nullptr || row->size() < 2) continue;
    if (!flag.default_value.empty()) {
      EXPECT_NE((*row)[1].find(flag.default_value), std::string::npos)
          << name << ": the help's default " << flag.default_value << " is not in the doc's \""
          << (*row)[1] << "\"";
    }
    if (flag.required) {
      EXPECT_NE((*row)[1].find("required"), std::string::npos) << name << " is required";
    }
  }
}

TEST_F(ConfigurationDocTest, DriverConfigKeysMatchTheParser) {
  const std::set<std::string> code = DriverConfigKeys();
  ASSERT_FALSE(code.empty())
      << "csi::ParseDriverConfig no longer lists its keys in the unknown-key error";
  const std::set<std::string> documented = ColumnSpans(Table("## Driver config"), 0);
  EXPECT_EQ(Missing(code, documented), "") << "driver config keys missing from the doc";
  EXPECT_EQ(Missing(documented, code), "") << "documented driver config keys the parser refuses";
}

TEST_F(ConfigurationDocTest, VolumeAttributesMatchTheNodeChecks) {
  const std::vector<Row> rows = Table("## Volume attributes");
  const std::set<std::string> documented = ColumnSpans(rows, 0);
  ASSERT_TRUE(documented.contains("source"));
  std::set<std::string> accepted;
  std::set<std::string> names = CandidateNames();
  names.insert(documented.begin(), documented.end());
  for (const std::string& name : names) {
    if (VolumeAttributeKnown(name)) accepted.insert(name);
  }
  EXPECT_EQ(Missing(accepted, documented), "")
      << "volume attributes the node accepts that \"## Volume attributes\" lacks";
  EXPECT_EQ(Missing(documented, accepted), "")
      << "documented volume attributes the node refuses as unknown";
}

// Columns: attribute | freshfs-mount option | S3 only | example | meaning.
TEST_F(ConfigurationDocTest, VolumeAttributeRowsAreTrue) {
  for (const Row& row : Table("## Volume attributes")) {
    ASSERT_GE(row.size(), 5u) << row[0];
    const std::vector<std::string> names = CodeSpans(row[0]);
    const std::vector<std::string> flags = CodeSpans(row[1]);
    const std::vector<std::string> examples = CodeSpans(row[3]);
    ASSERT_EQ(names.size(), 1u) << row[0];
    const std::string& name = names[0];
    if (name == "source") continue;
    // "—": not an option of its own (the credential mode, the token's audience).
    ASSERT_LE(flags.size(), 1u) << name << ": at most one freshfs-mount option expected";
    ASSERT_EQ(examples.size(), 1u) << name << ": one example value expected";
    const std::string example = Unquoted(examples[0]);

    auto s3 = csi::CheckVolumeContext({{"source", kProbeS3Source}, {name, example}});
    EXPECT_TRUE(s3) << name << ": example " << example
                    << " is refused: " << (s3 ? "" : s3.error().message);

    auto dir = csi::CheckVolumeContext({{"source", "/srv/docs-probe"}, {name, example}});
    const bool s3_only = row[2] == "yes";
    EXPECT_EQ(!dir, s3_only) << name << ": the doc says S3 only: " << row[2]
                             << "; a directory source got: " << (dir ? "ok" : dir.error().message);

    csi::VolumeSpec spec;
    spec.volume_id = "v";
    spec.target_path = "/mnt/v";
    // With pod identity, so that the role's attributes reach argv too.
    spec.attributes = {{"source", kProbeS3Source},
                       {"credentials", "pod"},
                       {"roleArn", "arn:aws:iam::123456789012:role/probe"}};
    spec.attributes[name] = example;
    if (flags.empty()) continue;
    const std::vector<std::string> argv =
        csi::MountArgs("freshfs-mount", spec, {"/st", "/ca", "/token"});
    const bool passed = std::ranges::any_of(argv, [&](const std::string& arg) {
      return arg == flags[0] || arg.starts_with(flags[0] + "=");
    });
    EXPECT_TRUE(passed) << name << " is documented as " << flags[0]
                        << " but freshfs-mount is not given that flag";
  }
}

TEST_F(ConfigurationDocTest, KubeletKeysAreAcceptedAndIgnored) {
  const std::set<std::string> documented = ColumnSpans(Table("### Keys kubelet adds"), 0);
  for (const std::string& key : documented) {
    EXPECT_TRUE(VolumeContextIgnores(key)) << key << " is documented as ignored but is not";
  }
  for (const char* suffix : {"pod.name", "pod.namespace", "pod.uid", "serviceAccount.name",
                             "serviceAccount.tokens", "ephemeral"}) {
    const std::string key = std::string("csi.storage.k8s.io/") + suffix;
    if (VolumeContextIgnores(key)) {
      EXPECT_TRUE(documented.contains(key)) << key << " is ignored but not documented";
    }
  }
}

TEST_F(ConfigurationDocTest, StorageClassParametersMatchTheController) {
  const std::set<std::string> documented = ColumnSpans(Table("## StorageClass parameters"), 0);
  const std::set<std::string> attributes = ColumnSpans(Table("## Volume attributes"), 0);
  std::set<std::string> prefixes;  // "csi.storage.k8s.io/*"
  for (const std::string& name : documented) {
    if (name.ends_with("/*")) {
      const std::string prefix = name.substr(0, name.size() - 1);
      prefixes.insert(prefix);
      EXPECT_TRUE(StorageClassParameterKnown(prefix + "docs-probe"))
          << name << " is documented but refused";
    } else {
      EXPECT_TRUE(StorageClassParameterKnown(name)) << "parameter " << name << " is refused";
    }
  }
  // "any volume attribute above"
  for (const std::string& name : attributes) {
    EXPECT_TRUE(StorageClassParameterKnown(name))
        << "volume attribute " << name << " is refused as a StorageClass parameter";
  }
  std::set<std::string> names = CandidateNames();
  names.insert(attributes.begin(), attributes.end());
  for (const std::string& name : names) {
    if (!StorageClassParameterKnown(name)) continue;
    EXPECT_TRUE(documented.contains(name) || attributes.contains(name))
        << "StorageClass parameter " << name << " is accepted but not documented";
  }
  const std::string undocumented = "csi.storage.k8s.io/docs-probe";
  if (StorageClassParameterKnown(undocumented)) {
    EXPECT_TRUE(prefixes.contains("csi.storage.k8s.io/"))
        << "csi.storage.k8s.io/* keys are accepted: document the prefix";
  }
}

TEST_F(ConfigurationDocTest, SecretKeysMatchTheNodeChecks) {
  const std::vector<Row> rows = Table("## S3 secret keys");
  std::set<std::string> documented, documented_required;
  for (const Row& row : rows) {
    ASSERT_GE(row.size(), 2u);
    for (const std::string& key : CodeSpans(row[0])) {
      documented.insert(key);
      if (row[1] == "required") documented_required.insert(key);
    }
  }
  const std::set<std::string> required = RequiredSecretKeys();
  EXPECT_EQ(required, documented_required) << "required secret keys differ";

  std::set<std::string> candidates = documented;
  for (const char* key : {"accessKey", "secretKey", "token", "securityToken", "region", "endpoint",
                          "sessionToken", "awsAccessKeyId", "awsSecretAccessKey"}) {
    candidates.insert(key);
  }
  const std::set<std::string> kept = KeptSecretKeys(candidates);
  EXPECT_EQ(Missing(kept, documented), "") << "secret keys the node reads but the doc lacks";
  EXPECT_EQ(Missing(documented, kept), "") << "documented secret keys the node ignores";
}

}  // namespace
}  // namespace freshfs::docs
