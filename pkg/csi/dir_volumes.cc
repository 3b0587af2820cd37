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
#include "s3/sigv4.h"
#include "util/quote.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

namespace {

constexpr std::string_view kIdPrefix = "dir:";
constexpr std::string_view kHashedIdPrefix = "dir#";
constexpr size_t kIdHashDigits = 40;
constexpr const char* kIndexDir = ".freshfs-ids";
constexpr mode_t kVolumeDirMode = 0750;

std::string Errno(int error) { return std::strerror(error); }

std::string Child(const std::string& parent, const std::string& name) {
  return (parent == "/" ? "" : parent) + "/" + name;
}

// The parent and name of a volume path, or nullopt when it is not one this
// controller makes (an absolute, lexically normal path).
std::optional<DirVolume> ParsePath(const std::string& path) {
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return std::nullopt;
  if (std::filesystem::path(path).lexically_normal().string() != path) return std::nullopt;
  const size_t slash = path.rfind('/');
  DirVolume volume{"", slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
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
Status WriteText(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  const std::string failed = "cannot write volume metadata " + Quoted(path) + ": ";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return Internal(failed + Errno(errno));
  Status written = WriteAll(fd.get(), text);
  if (written.ok() && ::fchmod(fd.get(), 0600) != 0) written = Internal(Errno(errno));
  if (written.ok() && ::fsync(fd.get()) != 0) written = Internal(Errno(errno));
  if (written.ok() && ::rename(temp.c_str(), path.c_str()) != 0) written = Internal(Errno(errno));
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return Internal(failed + written.error().message);
  }
  return Status::Ok();
}

// The real path of the root in `roots` that `real` (a real path) lies under.
std::string RealRootOf(const std::string& real, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    std::error_code ec;
    std::string real_root = std::filesystem::canonical(root, ec).string();
    if (ec) continue;
    if (real_root == "/" || real == real_root || real.starts_with(real_root + "/"))
      return real_root;
  }
  return "";
}

Status WriteRecord(const std::string& path, const VolumeRecord& record) {
  return WriteText(path, FormatVolumeRecord(record));
}

// A hashed id's index entry: the volume's path.
Status WriteIndex(const DirVolume& volume) {
  const std::string index = volume.index_path();
  if (index.empty()) return Status::Ok();
  const std::string dir = Child(volume.root, kIndexDir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Internal("cannot create " + Quoted(dir) + ": " + Errno(errno));
  return WriteText(index, volume.path() + "\n");
}

// The volume a hashed id names, from the index of the root that has it.
std::optional<DirVolume> FindIndexed(const std::string& volume_id,
                                     const std::vector<std::string>& roots) {
  const std::string digits = volume_id.substr(kHashedIdPrefix.size());
  if (digits.size() != kIdHashDigits ||
      digits.find_first_not_of("0123456789abcdef") != std::string::npos)
    return std::nullopt;
  for (const std::string& root : roots) {
    std::error_code ec;
    const std::string real_root = std::filesystem::canonical(root, ec).string();
    if (ec) continue;
    const std::string index = Child(Child(real_root, kIndexDir), digits);
    UniqueFd fd(::open(index.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) continue;
    char buffer[8192];
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n <= 1 || buffer[n - 1] != '\n') continue;
    if (auto volume = ParsePath(std::string(buffer, size_t(n - 1)))) return volume;
  }
  return std::nullopt;
}

Status RemoveRecord(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Internal("cannot remove volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  return Status::Ok();
}

}  // namespace

std::string DirVolume::id() const {
  std::string id = std::string(kIdPrefix) + path();
  if (id.size() <= kMaxVolumeIdBytes) return id;
  return std::string(kHashedIdPrefix) + s3::Sha256Hex(path()).substr(0, kIdHashDigits);
}

std::string DirVolume::index_path() const {
  if (!id().starts_with(kHashedIdPrefix)) return "";
  return Child(Child(root, kIndexDir), id().substr(kHashedIdPrefix.size()));
}
std::string DirVolume::path() const { return Child(parent, name); }
std::string DirVolume::record_path() const { return Child(parent, VolumeRecordName(name)); }

bool IsDirVolumeId(const std::string& volume_id) {
  return volume_id.starts_with(kIdPrefix) || volume_id.starts_with(kHashedIdPrefix);
}

Result<DirVolume> PlanDirVolume(const std::string& parent_path, const std::string& name,
                                const std::vector<std::string>& roots) {
  auto parent = ResolveDirSource(parent_path, roots);
  if (!parent) return parent.error();
  return DirVolume{RealRootOf(*parent, roots), *parent, name};
}

Result<std::optional<DirVolume>> LocateDirVolume(const std::string& volume_id,
                                                 const std::vector<std::string>& roots) {
  std::optional<DirVolume> volume;
  if (volume_id.starts_with(kIdPrefix)) {
    volume = ParsePath(volume_id.substr(kIdPrefix.size()));
  } else if (volume_id.starts_with(kHashedIdPrefix)) {
    volume = FindIndexed(volume_id, roots);
  }
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
  volume->root = RealRootOf(*real, roots);
  if (volume->id() != volume_id) return std::optional<DirVolume>();
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
    if (Status s = WriteIndex(volume); !s.ok()) return s;
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
  if (Status s = RemoveRecord(volume.record_path()); !s.ok()) return s;
  if (const std::string index = volume.index_path(); !index.empty()) return RemoveRecord(index);
  return Status::Ok();
}

Result<bool> DirVolumeExists(const DirVolume& volume) {
  auto record = ReadRecord(volume.record_path());
  if (!record) return record.error();
  struct stat st;
  return record->has_value() && ::lstat(volume.path().c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace freshfs::csi
