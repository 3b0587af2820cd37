// examples/*.yaml: every manifest a user applies must be accepted by the
// driver as written. Checked with the driver's own checks: the CSI driver
// name, every volumeAttributes key and value (csi::CheckVolumeContext), every
// StorageClass parameter (ControllerService::CreateVolume up to its secret
// check), the secrets' keys (csi::CheckS3Secrets, against the documented
// list), mountOptions (freshfs-mount's -o parser), and that values
// Kubernetes wants as strings are not YAML numbers or booleans.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <regex>

#include "code_probes.h"
#include "config/cli.h"
#include "csi/volume_context.h"
#include "doc_tables.h"

namespace freshfs::docs {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDriver = "freshfs.csi.dev";
const fs::path kExamples = fs::path(FRESHFS_SOURCE_DIR) / "examples";

struct Manifest {
  std::string file;  // for messages
  YAML::Node node;
};

std::vector<Manifest> LoadExamples() {
  std::vector<Manifest> manifests;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    for (const YAML::Node& node : YAML::LoadAllFromFile(file.string())) {
      if (node.IsMap()) manifests.push_back({file.filename().string(), node});
    }
  }
  return manifests;
}

std::string Where(const Manifest& m) {
  return m.file + " " + m.node["kind"].as<std::string>("?") + " " +
         m.node["metadata"]["name"].as<std::string>("?");
}

// A plain (unquoted) scalar that YAML reads as a boolean, number or null:
// the API server refuses it where it wants a string.
bool LooksNonString(const YAML::Node& value) {
  static const std::regex kNonString(
      R"(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|)"
      R"(~|null|Null|NULL|[-+]?[0-9_]+|0o[0-7]+|0x[0-9a-fA-F]+|)"
      R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
  return value.IsScalar() && value.Tag() == "?" && std::regex_match(value.Scalar(), kNonString);
}

StringMap StringMapOf(const YAML::Node& map, const std::string& where) {
  StringMap out;
  if (!map) return out;
  EXPECT_TRUE(map.IsMap()) << where << ": expected a mapping";
  for (const auto& item : map) {
    const std::string key = item.first.as<std::string>();
    EXPECT_FALSE(LooksNonString(item.second))
        << where << ": " << key << ": " << item.second.Scalar()
        << " is not a string to Kubernetes; quote it";
    out[key] = item.second.as<std::string>("");
  }
  return out;
}

// mountOptions of a PV or StorageClass become freshfs-mount -o options.
void ExpectMountOptions(const YAML::Node& options, const std::string& where) {
  for (const YAML::Node& option : options) {
    const std::string o = option.as<std::string>();
    const char* argv[] = {"freshfs-mount", "-o", o.c_str(), "/srv/src", "/mnt/dst"};
    auto parsed = config::ParseCommandLine(5, argv, "0");
    EXPECT_EQ(parsed.action, config::ParseResult::Action::kRun)
        << where << ": mountOptions " << o << ": " << parsed.output;
  }
}

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifests_ = LoadExamples();
    ASSERT_FALSE(manifests_.empty()) << "no manifests in " << kExamples;
    const std::string doc =
        ReadTextFile(std::string(FRESHFS_SOURCE_DIR) + "/docs/configuration.md");
    for (const Row& row : TableUnder(doc, "## S3 secret keys")) {
      for (const std::string& key : CodeSpans(row[0])) secret_keys_.insert(key);
    }
    ASSERT_FALSE(secret_keys_.empty()) << "docs/configuration.md lists no S3 secret keys";
    for (const Manifest& m : manifests_) {
      if (m.node["kind"].as<std::string>("") != "Secret") continue;
      std::string ns = m.node["metadata"]["namespace"].as<std::string>("default");
      StringMap keys = StringMapOf(m.node["stringData"], Where(m));
      for (const auto& [k, v] : StringMapOf(m.node["data"], Where(m))) keys[k] = v;
      secrets_[ns + "/" + m.node["metadata"]["name"].as<std::string>("")] = keys;
    }
  }

  // A secret reference must name a Secret of the examples that holds the
  // documented keys and satisfies the node's check.
  void ExpectSecret(const std::string& ns, const std::string& name, const std::string& where) {
    auto it = secrets_.find(ns + "/" + name);
    if (it == secrets_.end()) {
      ADD_FAILURE() << where << ": refers to Secret " << ns << "/" << name
                    << ", which no example defines";
      return;
    }
    for (const auto& [key, value] : it->second) {
      EXPECT_TRUE(secret_keys_.contains(key)) << "Secret " << ns << "/" << name << ": key " << key
                                              << " is not a documented S3 secret key";
    }
    auto checked = csi::CheckS3Secrets(it->second);
    EXPECT_TRUE(checked) << "Secret " << ns << "/" << name << ": "
                         << (checked ? "" : checked.error().message);
  }

  // A PV's spec.csi or a pod's inline volume csi:, in namespace `ns`.
  // Returns whether the source is S3.
  bool ExpectCsiSource(const YAML::Node& csi, const std::string& ns, const std::string& where) {
    EXPECT_EQ(csi["driver"].as<std::string>(""), kDriver) << where;
    const StringMap attributes = StringMapOf(csi["volumeAttributes"], where + " volumeAttributes");
    auto checked = csi::CheckVolumeContext(attributes);
    EXPECT_TRUE(checked) << where << ": " << (checked ? "" : checked.error().message);
    if (!checked) return false;
    const YAML::Node ref = csi["nodePublishSecretRef"];
    // Volumes with credentials "driver" or "pod" need no keys.
    const auto mode = attributes.find("credentials");
    if (checked->s3 && (mode == attributes.end() || mode->second == "secret")) {
      EXPECT_TRUE(ref.IsMap()) << where << ": an S3 volume needs nodePublishSecretRef";
      if (ref.IsMap()) {
        ExpectSecret(ref["namespace"].as<std::string>(ns), ref["name"].as<std::string>(""), where);
      }
    }
    return checked->s3;
  }

  std::vector<Manifest> manifests_;
  std::set<std::string> secret_keys_;
  std::map<std::string, StringMap> secrets_;  // "namespace/name" -> keys
};

TEST_F(ExamplesTest, EveryExampleFileStartsWithACommentHeader) {
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string text = ReadTextFile(entry.path().string());
    EXPECT_TRUE(text.starts_with("# ")) << entry.path() << " has no comment header";
  }
}

TEST_F(ExamplesTest, PersistentVolumesAreAcceptedByTheNode) {
  int s3 = 0, dir = 0;
  for (const Manifest& m : manifests_) {
    if (m.node["kind"].as<std::string>("") != "PersistentVolume") continue;
    const YAML::Node csi = m.node["spec"]["csi"];
    ASSERT_TRUE(csi.IsMap()) << Where(m) << ": no spec.csi";
    (ExpectCsiSource(csi, "default", Where(m)) ? s3 : dir)++;
    ExpectMountOptions(m.node["spec"]["mountOptions"], Where(m));
  }
  EXPECT_GE(s3, 1) << "examples/ needs a static PV for an S3 bucket";
  EXPECT_GE(dir, 1) << "examples/ needs a static PV for a directory";
}

TEST_F(ExamplesTest, InlineVolumesAreAcceptedByTheNode) {
  int inline_volumes = 0;
  for (const Manifest& m : manifests_) {
    if (m.node["kind"].as<std::string>("") != "Pod") continue;
    const std::string ns = m.node["metadata"]["namespace"].as<std::string>("default");
    for (const YAML::Node& volume : m.node["spec"]["volumes"]) {
      if (!volume["csi"]) continue;
      ExpectCsiSource(volume["csi"], ns,
                      Where(m) + " volume " + volume["name"].as<std::string>("?"));
      ++inline_volumes;
    }
  }
  EXPECT_GE(inline_volumes, 1) << "examples/ needs a pod with an inline csi volume";
}

TEST_F(ExamplesTest, StorageClassesPassTheControllersChecks) {
  int s3 = 0, dir = 0;
  for (const Manifest& m : manifests_) {
    if (m.node["kind"].as<std::string>("") != "StorageClass") continue;
    EXPECT_EQ(m.node["provisioner"].as<std::string>(""), kDriver) << Where(m);
    ExpectMountOptions(m.node["mountOptions"], Where(m));
    const StringMap parameters = StringMapOf(m.node["parameters"], Where(m) + " parameters");
    const grpc::Status status = CreateVolumeWith(parameters);
    EXPECT_TRUE(PassedParameterChecks(status))
        << Where(m) << ": CreateVolume refuses the parameters: " << status.error_message();
    const bool is_s3 =
        parameters.contains("source") && parameters.at("source").starts_with("s3://");
    (is_s3 ? s3 : dir)++;
    if (!is_s3) continue;
    // Nodes of volumes with credentials "driver" or "pod" need no keys.
    const auto mode = parameters.find("credentials");
    const bool node_keys = mode == parameters.end() || mode->second == "secret";
    for (const char* secret : {"provisioner", "node-publish"}) {
      if (!node_keys && std::string_view(secret) == "node-publish") continue;
      const std::string key = std::string("csi.storage.k8s.io/") + secret + "-secret-";
      auto name = parameters.find(key + "name");
      auto ns = parameters.find(key + "namespace");
      if (name == parameters.end() || ns == parameters.end()) {
        ADD_FAILURE() << Where(m) << ": an S3 StorageClass needs " << key << "name and " << key
                      << "namespace";
        continue;
      }
      ExpectSecret(ns->second, name->second, Where(m));
    }
  }
  EXPECT_GE(s3, 1) << "examples/ needs a StorageClass for S3 prefixes";
  EXPECT_GE(dir, 1) << "examples/ needs a StorageClass for directories";
}

// Wherever a manifest names a CSI driver, it is ours.
TEST_F(ExamplesTest, EveryDriverNameIsFreshfs) {
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& node,
                                                                        const std::string& where) {
    if (node.IsMap()) {
      for (const auto& item : node) {
        const std::string key = item.first.as<std::string>("");
        if (key == "csi" && item.second.IsMap()) {
          EXPECT_EQ(item.second["driver"].as<std::string>(""), kDriver) << where;
        }
        walk(item.second, where);
      }
    } else if (node.IsSequence()) {
      for (const YAML::Node& child : node) walk(child, where);
    }
  };
  for (const Manifest& m : manifests_) {
    walk(m.node, Where(m));
    if (m.node["kind"].as<std::string>("") == "StorageClass") {
      EXPECT_EQ(m.node["provisioner"].as<std::string>(""), kDriver) << Where(m);
    }
  }
}

}  // namespace
}  // namespace freshfs::docs
