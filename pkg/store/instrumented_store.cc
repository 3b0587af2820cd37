#include "store/instrumented_store.h"

#include <chrono>
#include <utility>

namespace freshfs::store {
namespace {

using metrics::StoreOp;

template <typename T>
int ErrorOf(const Expected<T, Error>& r) {
  return r.ok() ? 0 : r.error().code;
}

// Runs one store call, counting it with its result and duration.
template <typename F>
auto Timed(metrics::Metrics* m, StoreOp op, F&& call) {
  const auto start = std::chrono::steady_clock::now();
  auto r = call();
  m->StoreRequest(op, ErrorOf(r), std::chrono::steady_clock::now() - start);
  return r;
}

class InstrumentedFile final : public FileHandle {
 public:
  InstrumentedFile(std::unique_ptr<FileHandle> inner, metrics::Metrics* m)
      : inner_(std::move(inner)), m_(m) {}

  Result<size_t> Read(char* buf, size_t size, off_t offset) override {
    auto r = Timed(m_, StoreOp::kRead, [&] { return inner_->Read(buf, size, offset); });
    if (r) m_->StoreBytesRead(*r);
    return r;
  }
  Result<size_t> Write(const char* buf, size_t size, off_t offset) override {
    auto r = Timed(m_, StoreOp::kWrite, [&] { return inner_->Write(buf, size, offset); });
    if (r) m_->StoreBytesWritten(*r);
    return r;
  }
  Result<struct stat> Stat() override {
    return Timed(m_, StoreOp::kStat, [&] { return inner_->Stat(); });
  }
  Status SetAttr(const AttrChange& c) override {
    return Timed(m_, StoreOp::kSetattr, [&] { return inner_->SetAttr(c); });
  }
  Status Flush() override {
    return Timed(m_, StoreOp::kFsync, [&] { return inner_->Flush(); });
  }
  Status Fsync(bool datasync) override {
    return Timed(m_, StoreOp::kFsync, [&] { return inner_->Fsync(datasync); });
  }
  Status Allocate(int mode, off_t offset, off_t length) override {
    return Timed(m_, StoreOp::kWrite, [&] { return inner_->Allocate(mode, offset, length); });
  }
  Result<off_t> Seek(off_t offset, int whence) override { return inner_->Seek(offset, whence); }
  // The first block's fetch (S3): counted as the read it replaces.
  Status Pin() override {
    return Timed(m_, StoreOp::kRead, [&] { return inner_->Pin(); });
  }
  bool KeepsWrites() const override { return inner_->KeepsWrites(); }

 private:
  std::unique_ptr<FileHandle> inner_;
  metrics::Metrics* m_;
};

class InstrumentedStore final : public Store {
 public:
  InstrumentedStore(std::unique_ptr<Store> inner, metrics::Metrics* m)
      : inner_(std::move(inner)), m_(m) {}

  std::string Describe() const override { return inner_->Describe(); }
  Status CheckRoot() override {
    return Timed(m_, StoreOp::kStat, [&] { return inner_->CheckRoot(); });
  }
  Result<struct stat> Stat(std::string_view p) override {
    return Timed(m_, StoreOp::kStat, [&] { return inner_->Stat(p); });
  }
  Result<std::vector<DirEntry>> List(std::string_view d) override {
    return Timed(m_, StoreOp::kList, [&] { return inner_->List(d); });
  }
  Result<std::vector<DetailedEntry>> ListDetailed(std::string_view d) override {
    return Timed(m_, StoreOp::kList, [&] { return inner_->ListDetailed(d); });
  }
  size_t ListPageSize() const override { return inner_->ListPageSize(); }
  Result<std::vector<DetailedEntry>> ListFresh(std::string_view d) override {
    return Timed(m_, StoreOp::kList, [&] { return inner_->ListFresh(d); });
  }
  Result<std::vector<DetailedEntry>> ListTree(std::string_view d) override {
    return Tree([&] { return inner_->ListTree(d); });
  }
  Result<std::vector<DetailedEntry>> ListTreeUpTo(std::string_view d, size_t max_keys) override {
    return Tree([&] { return inner_->ListTreeUpTo(d, max_keys); });
  }
  template <typename F>
  Result<std::vector<DetailedEntry>> Tree(F&& list) {
    const auto start = std::chrono::steady_clock::now();
    auto r = list();
    if (!r && r.error().code == ENOSYS) return r;  // not offered: nothing was asked of the source
    m_->StoreRequest(StoreOp::kList, ErrorOf(r), std::chrono::steady_clock::now() - start);
    return r;
  }
  Result<Usage> ScanUsage(const std::atomic<bool>& stop) override {
    return inner_->ScanUsage(stop);  // counted by the watcher's own metrics
  }
  Result<struct stat> StatFresh(std::string_view p) override {
    return Timed(m_, StoreOp::kStat, [&] { return inner_->StatFresh(p); });
  }
  Result<std::string> ReadLink(std::string_view p) override {
    return Timed(m_, StoreOp::kReadlink, [&] { return inner_->ReadLink(p); });
  }
  Result<struct statvfs> StatFs() override {
    return Timed(m_, StoreOp::kStatfs, [&] { return inner_->StatFs(); });
  }
  Result<std::unique_ptr<FileHandle>> Open(std::string_view p, int flags) override {
    return Wrap(StoreOp::kOpen, [&] { return inner_->Open(p, flags); });
  }
  Result<std::unique_ptr<FileHandle>> Create(std::string_view p, int flags, mode_t mode,
                                             const Caller& c) override {
    return Wrap(StoreOp::kCreate, [&] { return inner_->Create(p, flags, mode, c); });
  }
  Status MakeDir(std::string_view p, mode_t mode, const Caller& c) override {
    return Timed(m_, StoreOp::kMkdir, [&] { return inner_->MakeDir(p, mode, c); });
  }
  Status MakeNode(std::string_view p, mode_t mode, dev_t rdev, const Caller& c) override {
    return Timed(m_, StoreOp::kMknod, [&] { return inner_->MakeNode(p, mode, rdev, c); });
  }
  Status Symlink(std::string_view t, std::string_view p, const Caller& c) override {
    return Timed(m_, StoreOp::kSymlink, [&] { return inner_->Symlink(t, p, c); });
  }
  Status Link(std::string_view e, std::string_view p) override {
    return Timed(m_, StoreOp::kLink, [&] { return inner_->Link(e, p); });
  }
  Status Unlink(std::string_view p) override {
    return Timed(m_, StoreOp::kUnlink, [&] { return inner_->Unlink(p); });
  }
  Status RemoveDir(std::string_view p) override {
    return Timed(m_, StoreOp::kRmdir, [&] { return inner_->RemoveDir(p); });
  }
  Status Rename(std::string_view f, std::string_view t, unsigned flags, const Caller& c) override {
    return Timed(m_, StoreOp::kRename, [&] { return inner_->Rename(f, t, flags, c); });
  }
  Status SetAttr(std::string_view p, const AttrChange& c) override {
    return Timed(m_, StoreOp::kSetattr, [&] { return inner_->SetAttr(p, c); });
  }
  Result<std::string> GetXattr(std::string_view p, const std::string& n) override {
    return Timed(m_, StoreOp::kXattr, [&] { return inner_->GetXattr(p, n); });
  }
  Result<std::string> ListXattr(std::string_view p) override {
    return Timed(m_, StoreOp::kXattr, [&] { return inner_->ListXattr(p); });
  }
  Status SetXattr(std::string_view p, const std::string& n, std::string_view v,
                  int flags) override {
    return Timed(m_, StoreOp::kXattr, [&] { return inner_->SetXattr(p, n, v, flags); });
  }
  Status RemoveXattr(std::string_view p, const std::string& n) override {
    return Timed(m_, StoreOp::kXattr, [&] { return inner_->RemoveXattr(p, n); });
  }

 private:
  template <typename F>
  Result<std::unique_ptr<FileHandle>> Wrap(StoreOp op, F&& call) {
    auto r = Timed(m_, op, std::forward<F>(call));
    if (!r) return r;
    return std::unique_ptr<FileHandle>(new InstrumentedFile(std::move(*r), m_));
  }

  std::unique_ptr<Store> inner_;
  metrics::Metrics* m_;
};

}  // namespace

std::unique_ptr<Store> Instrument(std::unique_ptr<Store> store, metrics::Metrics* metrics) {
  return std::make_unique<InstrumentedStore>(std::move(store), metrics);
}

}  // namespace freshfs::store
