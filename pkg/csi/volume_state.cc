#include "csi/volume_state.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "s3/sigv4.h"

namespace freshfs::csi {
namespace {

namespace fs = std::filesystem;

nlohmann::json ToJson(const VolumeState& state) {
  nlohmann::json j;
  j["volume_id"] = state.spec.volume_id;
  j["target_path"] = state.spec.target_path;
  j["read_only"] = state.spec.read_only;
  j["mount_flags"] = state.spec.mount_flags;
  j["attributes"] = state.spec.attributes;
  j["secrets"] = state.spec.secrets;
  if (!state.spec.pod_token.empty()) j["pod_token"] = state.spec.pod_token;
  j["pid"] = state.pid;
  j["start_time"] = state.start_time;
  j["port"] = state.port;
  j["restarts"] = state.restarts;
  return j;
}

VolumeState FromJson(const nlohmann::json& j) {
  VolumeState state;
  state.spec.volume_id = j.at("volume_id");
  state.spec.target_path = j.at("target_path");
  state.spec.read_only = j.at("read_only");
  state.spec.mount_flags = j.at("mount_flags").get<std::vector<std::string>>();
  state.spec.attributes = j.at("attributes").get<std::map<std::string, std::string>>();
  state.spec.secrets = j.at("secrets").get<std::map<std::string, std::string>>();
  state.spec.pod_token = j.value("pod_token", std::string());
  state.pid = j.at("pid");
  state.start_time = j.value("start_time", uint64_t(0));  // absent before 0.6
  state.port = j.value("port", 0);
  state.restarts = j.value("restarts", uint64_t(0));
  return state;
}

}  // namespace

Result<VolumeStateStore> VolumeStateStore::Open(const std::string& dir) {
  const std::string volumes = dir + "/volumes";
  std::error_code ec;
  fs::create_directories(volumes, ec);
  if (ec) return Internal("state directory " + dir + ": " + ec.message());
  for (const std::string& d : {dir, volumes}) {
    if (::chmod(d.c_str(), 0711) != 0)
      return Internal("state directory " + d + ": " + std::strerror(errno));
  }
  return VolumeStateStore(volumes);
}

std::string VolumeStateStore::Key(const std::string& target) const { return s3::Sha256Hex(target); }

std::string VolumeStateStore::StateFile(const std::string& target) const {
  return volumes_ + "/" + Key(target) + ".json";
}

std::string VolumeStateStore::VolumeDir(const std::string& target) const {
  return volumes_ + "/" + Key(target) + ".d";
}

Status VolumeStateStore::Save(const VolumeState& state) const {
  const std::string path = StateFile(state.spec.target_path), tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Internal("saving state " + tmp + ": " + std::strerror(errno));
  const std::string text = ToJson(state).dump();
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Internal("saving state " + path + ": " + std::strerror(ok ? errno : error));
  }
  return Status::Ok();
}

std::vector<VolumeState> VolumeStateStore::LoadAll() const {
  std::vector<VolumeState> states;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(volumes_, ec)) {
    if (entry.path().extension() != ".json") continue;
    VolumeState state;
    try {
      std::ifstream in(entry.path());
      state = FromJson(nlohmann::json::parse(in));
    } catch (const std::exception& e) {
      spdlog::error("state file {} is unreadable ({}); ignoring it", entry.path().string(),
                    e.what());
      continue;
    }
    const std::string path = StateFile(state.spec.target_path);
    if (entry.path() != path) {  // named by an older scheme
      fs::path old_dir = entry.path();
      old_dir.replace_extension(".d");
      fs::rename(old_dir, VolumeDir(state.spec.target_path), ec);
      fs::rename(entry.path(), path, ec);
      if (ec)
        spdlog::warn("renaming state {} to {}: {}", entry.path().string(), path, ec.message());
    }
    states.push_back(std::move(state));
  }
  return states;
}

void VolumeStateStore::Remove(const std::string& target) const {
  if (::unlink(StateFile(target).c_str()) != 0 && errno != ENOENT)
    spdlog::warn("removing state {}: {}", StateFile(target), std::strerror(errno));
}

}  // namespace freshfs::csi
