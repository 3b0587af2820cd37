#include "csi/dir_volumes.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "csi/dir_source.h"
#include "csi/request_checks.h"
#include "util/quote.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

namespace {

constexpr std::string_view kIdPrefix = "dir:";
constexpr mode_t kVolumeDirMode = 0750;

std::string Errno(int error) { return std::strerror(error); }

std::string Child(const std::string& parent, const std::string& name) {
  return (parent == "/" ? "" : parent) + "/" + name;
}

// The parent and name in a volume id, or nullopt when the id is not one this
// controller makes ("dir:" + an absolute, lexically normal path).
std::optional<DirVolume> ParseId(const std::string& volume_id) {
  if (!IsDirVolumeId(volume_id)) return std::nullopt;
  const std::string path = volume_id.substr(kIdPrefix.size());
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return std::nullopt;
  if (std::filesystem::path(path).lexically_normal().string() != path) return std::nullopt;
  const size_t slash = path.rfind('/');
  DirVolume volume{slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
  if (!CheckVolumeName(volume.name).ok()) return std::nullopt;
  return volume;
}

Result<std::optional<VolumeRecord>> ReadRecord(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<VolumeRecord>();
    return Internal("volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Internal("volume metadata " + Quoted(path) + " is not a regular file");
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<VolumeRecord>();
    return Internal("cannot open volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot read volume metadata " + Quoted(path) + ": " + Errno(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxVolumeRecordBytes) break;
  }
  auto record = ParseVolumeRecord(text, path);
  if (!record) return record.error();
  return std::optional<VolumeRecord>(std::move(*record));
}

Status WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal(Errno(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Written to a temporary file and renamed into place: readers see all or nothing.
Status WriteRecord(const std::string& path, const VolumeRecord& record) {
  const std::string temp = path + ".tmp";
  const std::string failed = "cannot write volume metadata " + Quoted(path) + ": ";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return Internal(failed + Errno(errno));
  Status written = WriteAll(fd.get(), FormatVolumeRecord(record));
  if (written.ok() && ::fchmod(fd.get(), 0600) != 0) written = Internal(Errno(errno));
  if (written.ok() && ::fsync(fd.get()) != 0) written = Internal(Errno(errno));
  if (written.ok() && ::rename(temp.c_str(), path.c_str()) != 0) written = Internal(Errno(errno));
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return Internal(failed + written.message());
  }
  return Status::Ok();
}

Status RemoveRecord(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Internal("cannot remove volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  return Status::Ok();
}

}  // namespace

std::string DirVolume::id() const { return std::string(kIdPrefix) + path(); }
std::string DirVolume::path() const { return Child(parent, name); }
std::string DirVolume::record_path() const { return Child(parent, VolumeRecordName(name)); }

bool IsDirVolumeId(const std::string& volume_id) { return volume_id.starts_with(kIdPrefix); }

Result<DirVolume> PlanDirVolume(const std::string& parent_path, const std::string& name,
                                const std::vector<std::string>& roots) {
  auto parent = ResolveDirSource(parent_path, roots);
  if (!parent) return parent.error();
  DirVolume volume{*parent, name};
  const std::string id = volume.id();
  if (id.size() > kMaxVolumeIdBytes) {
    return InvalidArgument("volume path too long for a volume id: " + Quoted(id) + " is " +
                           std::to_string(id.size()) + " bytes, at most " +
                           std::to_string(kMaxVolumeIdBytes));
  }
  return volume;
}

Result<std::optional<DirVolume>> LocateDirVolume(const std::string& volume_id,
                                                 const std::vector<std::string>& roots) {
  auto volume = ParseId(volume_id);
  if (!volume) return std::optional<DirVolume>();
  auto real = ResolveDirSource(volume->parent, roots);
  if (!real) {
    if (real.error().code == ErrorCode::kNotFound) return std::optional<DirVolume>();
    return Error{real.error().code, "volume_id " + Quoted(volume_id) + ": " + real.error().message};
  }
  if (*real != volume->parent) {
    return PermissionDenied("volume_id " + Quoted(volume_id) +
                            ": its directory leads through a symlink");
  }
  return volume;
}

Status CreateDirVolume(const DirVolume& volume, const VolumeRecord& wanted) {
  const std::string path = volume.path();
  auto existing = ReadRecord(volume.record_path());
  if (!existing) return existing.error();
  struct stat st;
  if (*existing) {
    if (**existing != wanted) {
      return AlreadyExists("volume " + volume.name + " already exists in " + volume.parent +
                           " with different parameters");
    }
  } else {
    // No record: only a directory this controller never made can be there.
    if (::lstat(path.c_str(), &st) == 0) {
      return AlreadyExists("directory " + Quoted(path) +
                           " already exists and was not created by freshfs for volume " +
                           volume.name);
    }
    if (Status s = WriteRecord(volume.record_path(), wanted); !s.ok()) return s;
  }

  if (::mkdir(path.c_str(), kVolumeDirMode) == 0) {
    if (::chmod(path.c_str(), kVolumeDirMode) != 0) {  // whatever the umask
      return Internal("chmod " + Quoted(path) + ": " + Errno(errno));
    }
    spdlog::info("created volume directory {}", path);
  } else if (errno == EEXIST) {
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Internal("volume path " + Quoted(path) + " exists and is not a directory");
    }
  } else {
    return Internal("cannot create directory " + Quoted(path) + ": " + Errno(errno));
  }
  return Status::Ok();
}

Status DeleteDirVolume(const DirVolume& volume) {
  auto record = ReadRecord(volume.record_path());
  if (!record) return record.error();
  if (!*record) return Status::Ok();  // already deleted (or retained)

  const std::string path = volume.path();
  if ((*record)->retain_on_delete()) {
    spdlog::info("volume {} deleted; its directory {} is retained", volume.id(), path);
  } else {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);  // does not follow symlinks
    if (ec) return Internal("cannot remove " + Quoted(path) + ": " + ec.message());
    spdlog::info("removed volume directory {}", path);
  }
  return RemoveRecord(volume.record_path());
}

Result<bool> DirVolumeExists(const DirVolume& volume) {
  auto record = ReadRecord(volume.record_path());
  if (!record) return record.error();
  struct stat st;
  return record->has_value() && ::lstat(volume.path().c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace freshfs::csi
