// A test fixture with a real S3 server (s3rver, bucket "test") and a
// freshfs mount of it, plus helpers that look at the bucket the way another
// client would (the aws CLI) and write to it directly.
//
// The mount gets the server's credentials through the environment, as a
// user's would. Both are stopped in teardown, whatever the test did.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "s3/client.h"
#include "support/mount.h"
#include "support/process.h"
#include "support/s3rver.h"

namespace freshfs::testing {

class S3MountedTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Mounts s3://test with a 1 s poll, the server's endpoint, a staging dir
  // in the mount's directory and metrics on a free port; `extra` is added.
  ::testing::AssertionResult StartMount(const std::vector<std::string>& extra = {},
                                        const std::string& source = "s3://test");
  // The options StartMount() passes (before `extra`): for a successor.
  std::vector<std::string> MountArgs() const;
  // Runs freshfs-mount in the background mode with the given environment
  // changes (expected to fail: the caller checks).
  ProcessResult RunMount(const std::string& source,
                         const std::vector<std::pair<std::string, std::string>>& env,
                         const std::string& endpoint = "");

  // Through the aws CLI (the other writer): an object's bytes (the test
  // fails on error), a PUT, and every key in the bucket.
  std::string Get(const std::string& key);
  void Put(const std::string& key, const std::string& data);
  std::set<std::string> Keys();
  // Through freshfs's own S3 client, for keys the aws CLI normalizes away
  // ("../x", "a//b"), and for bulk uploads.
  void PutDirect(const std::string& key, const std::string& data);
  std::unique_ptr<s3::Client> Client() const;

  // One scrape of the mount's /metrics, or nullopt.
  std::optional<std::string> Scrape();

  S3Server s3_;
  Mount m_;
};

}  // namespace freshfs::testing
