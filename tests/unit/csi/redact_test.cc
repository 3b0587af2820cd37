#include "csi/redact.h"

#include <gtest/gtest.h>

#include "csi.pb.h"

namespace freshfs::csi {
namespace {

namespace pb = ::csi::v1;

TEST(RedactTest, EverySecretsMapOfTheProtocol) {
  // One request of each kind that carries secrets.
  pb::CreateVolumeRequest create;
  (*create.mutable_secrets())["k"] = "create-secret";
  pb::DeleteVolumeRequest del;
  (*del.mutable_secrets())["k"] = "delete-secret";
  pb::NodeStageVolumeRequest stage;
  (*stage.mutable_secrets())["k"] = "stage-secret";
  pb::NodePublishVolumeRequest publish;
  (*publish.mutable_secrets())["k"] = "publish-secret";
  pb::ControllerExpandVolumeRequest expand;
  (*expand.mutable_secrets())["k"] = "expand-secret";
  pb::ValidateVolumeCapabilitiesRequest validate;
  (*validate.mutable_secrets())["k"] = "validate-secret";

  for (const google::protobuf::Message* message :
       std::initializer_list<const google::protobuf::Message*>{&create, &del, &stage, &publish,
                                                               &expand, &validate}) {
    SCOPED_TRACE(message->GetTypeName());
    const std::string text = RedactedText(*message);
    EXPECT_EQ(text.find("-secret"), std::string::npos) << text;
    EXPECT_EQ(text, "secrets { key: \"k\" value: \"***\" }");
  }
}

TEST(RedactTest, OriginalIsUntouchedAndOtherFieldsKept) {
  pb::NodePublishVolumeRequest publish;
  publish.set_volume_id("vol-1");
  (*publish.mutable_volume_context())["source"] = "s3://bucket";
  (*publish.mutable_secrets())["accessKeyId"] = "AKID";
  const std::string text = RedactedText(publish);
  EXPECT_NE(text.find("volume_id: \"vol-1\""), std::string::npos) << text;
  EXPECT_NE(text.find("value: \"s3://bucket\""), std::string::npos) << text;
  EXPECT_EQ(text.find("AKID\""), std::string::npos) << text;
  EXPECT_EQ(publish.secrets().at("accessKeyId"), "AKID");
}

TEST(RedactTest, ServiceAccountTokensInTheVolumeContext) {
  pb::NodePublishVolumeRequest publish;
  (*publish.mutable_volume_context())["csi.storage.k8s.io/serviceAccount.tokens"] = "jwt";
  (*publish.mutable_volume_context())["csi.storage.k8s.io/pod.name"] = "web-0";
  Redact(&publish);
  EXPECT_EQ(publish.volume_context().at("csi.storage.k8s.io/serviceAccount.tokens"), "***");
  EXPECT_EQ(publish.volume_context().at("csi.storage.k8s.io/pod.name"), "web-0");
}

TEST(RedactTest, MessagesWithoutSecretsPrintAsIs) {
  pb::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id("vol-1");
  unpublish.set_target_path("/t");
  EXPECT_EQ(RedactedText(unpublish), "volume_id: \"vol-1\" target_path: \"/t\"");
}

}  // namespace
}  // namespace freshfs::csi
