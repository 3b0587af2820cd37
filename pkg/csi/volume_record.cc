#include "csi/volume_record.h"

#include <nlohmann/json.hpp>

#include "util/quote.h"

namespace freshfs::csi {

bool VolumeRecord::retain_on_delete() const {
  const auto it = parameters.find("onDelete");
  return it != parameters.end() && it->second == "retain";
}

std::string VolumeRecordName(const std::string& volume_name) {
  return ".freshfs-" + volume_name + ".json";
}

std::string FormatVolumeRecord(const VolumeRecord& record) {
  nlohmann::json json;
  json["name"] = record.name;
  json["parameters"] = record.parameters;
  json["capacityBytes"] = record.capacity_bytes;
  return json.dump() + "\n";
}

Result<VolumeRecord> ParseVolumeRecord(std::string_view text, const std::string& where) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const Error corrupt = Internal("volume metadata " + Quoted(where) + " is corrupt");
  if (!json.is_object()) return corrupt;
  VolumeRecord record;
  try {
    record.name = json.at("name").get<std::string>();
    record.parameters = json.at("parameters").get<StringMap>();
    record.capacity_bytes = json.at("capacityBytes").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return corrupt;
  }
  return record;
}

}  // namespace freshfs::csi
