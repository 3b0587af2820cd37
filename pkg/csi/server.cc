#include "csi/server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "csi/controller_service.h"
#include "csi/identity_service.h"
#include "csi/node_service.h"
#include "csi/redact.h"
#include "util/quote.h"
#include "util/unique_fd.h"

namespace freshfs::csi {
namespace {

constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "UNKNOWN";
  }
}

// The one place every CSI call passes: created per call by gRPC, it sees the
// request once deserialised and the status just before it is sent.
class CallLogInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallLogInterceptor(const char* method, CallStats* stats)
      : start_(std::chrono::steady_clock::now()), stats_(stats) {
    // "/csi.v1.Node/NodePublishVolume" -> "NodePublishVolume"
    const std::string_view full = method != nullptr ? method : "";
    method_ = std::string(full.substr(full.rfind('/') + 1));
    if (method_.empty()) method_ = "unknown";
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // For protobuf services the received message is the request object.
      if (void* message = methods->GetRecvMessage()) {
        request_ = RedactedText(*static_cast<const google::protobuf::Message*>(message));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Finish(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Finish(const grpc::Status& status) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const char* code = GrpcCodeName(status.error_code());
    stats_->Record(method_, code, seconds);
    // The livenessprobe sidecar calls Probe every few seconds.
    const spdlog::level::level_enum level = method_ == "Probe" ? spdlog::level::debug
                                            : status.ok()      ? spdlog::level::info
                                                               : spdlog::level::warn;
    std::string line = fmt::format("CSI {} {} in {:.1f}ms", method_, code, seconds * 1e3);
    if (!status.error_message().empty()) line += ": " + status.error_message();
    if (!request_.empty()) line += (status.ok() ? ": " : "; request: ") + request_;
    spdlog::log(level, "{}", line);
  }

  const std::chrono::steady_clock::time_point start_;
  CallStats* const stats_;
  std::string method_;
  std::string request_;
};

class CallLogInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallLogInterceptorFactory(CallStats* stats) : stats_(stats) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallLogInterceptor(info->method(), stats_);
  }

 private:
  CallStats* const stats_;
};

std::string Errno(int error) { return std::strerror(error); }

// mkdir -p, new directories 0750: the socket's directory need not be
// readable by everyone.
Status CreateDirectories(const std::filesystem::path& dir) {
  std::filesystem::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      return Internal("cannot create directory " + Quoted(partial.string()) + ": " + Errno(errno));
    }
  }
  return Status::Ok();
}

// Ok when nothing is at `path` or only a stale socket (no one answers).
Status CheckSocketPathFree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Internal("socket " + Quoted(path) + ": " + Errno(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return InvalidArgument("socket " + Quoted(path) +
                           " exists and is not a socket; not replacing it");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Internal("socket(): " + Errno(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    return AlreadyExists("socket " + Quoted(path) + " is in use: another server answers on it");
  }
  spdlog::info("replacing stale socket {}", path);
  return Status::Ok();
}

// A private directory next to `socket_path` for binding, removed on scope exit.
class BindDirectory {
 public:
  static Result<BindDirectory> Create(const std::string& socket_path) {
    std::string pattern =
        std::filesystem::path(socket_path).parent_path().string() + "/.csi-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Internal("cannot create a directory next to " + Quoted(socket_path) + ": " +
                      Errno(errno));
    }
    return BindDirectory(std::move(pattern));
  }
  BindDirectory(BindDirectory&& other) noexcept : dir_(std::exchange(other.dir_, "")) {}
  ~BindDirectory() {
    if (dir_.empty()) return;
    ::unlink(socket().c_str());
    ::rmdir(dir_.c_str());
  }
  std::string socket() const { return dir_ + "/s"; }

 private:
  explicit BindDirectory(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace

Result<std::string> SocketPathFromEndpoint(std::string_view endpoint) {
  std::string_view path;
  if (endpoint.starts_with("unix://")) {
    path = endpoint.substr(7);
  } else if (endpoint.starts_with("unix:")) {
    path = endpoint.substr(5);
  } else {
    return InvalidArgument("endpoint " + Quoted(endpoint) +
                           ": only unix sockets are supported (unix:///path/to/csi.sock)");
  }
  if (path.empty() || path.front() != '/') {
    return InvalidArgument("endpoint " + Quoted(endpoint) +
                           ": the socket path must be absolute (unix:///path/to/csi.sock)");
  }
  if (path.back() == '/') {
    return InvalidArgument("endpoint " + Quoted(endpoint) + ": names a directory, not a socket");
  }
  if (path.size() > kMaxSocketPath) {
    return InvalidArgument("endpoint " + Quoted(endpoint) + ": socket path longer than " +
                           std::to_string(kMaxSocketPath) + " bytes");
  }
  return std::string(path);
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  const bool node = options.mode != Mode::kController;
  const bool controller = options.mode != Mode::kNode;
  if (node && options.volumes == nullptr) return Internal("the node service needs a VolumeManager");
  auto path = SocketPathFromEndpoint(options.endpoint);
  if (!path) return path.error();

  std::unique_ptr<Server> server(new Server());
  server->socket_path_ = *path;
  server->stats_ = std::make_unique<CallStats>(options.registry);
  if (Status s = CreateDirectories(std::filesystem::path(*path).parent_path()); !s.ok()) {
    return s.error();
  }
  if (Status s = CheckSocketPathFree(*path); !s.ok()) return s.error();
  auto bind_dir = BindDirectory::Create(*path);
  if (!bind_dir) return bind_dir.error();
  const std::string bind_socket = bind_dir->socket();
  if (bind_socket.size() > kMaxSocketPath) {
    return InvalidArgument("socket path " + Quoted(*path) + " is too long to bind next to it (" +
                           Quoted(bind_socket) + " exceeds " + std::to_string(kMaxSocketPath) +
                           " bytes)");
  }

  server->services_.push_back(std::make_unique<IdentityService>(options.version, controller));
  if (node) {
    server->services_.push_back(
        std::make_unique<NodeService>(options.node_id, options.driver_config, *options.volumes));
  }
  if (controller) {
    server->services_.push_back(std::make_unique<ControllerService>(options.driver_config));
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + bind_socket, grpc::InsecureServerCredentials());
  for (const auto& service : server->services_) builder.RegisterService(service.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<CallLogInterceptorFactory>(server->stats_.get()));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  server->server_ = builder.BuildAndStart();
  if (!server->server_) return Internal("cannot listen on " + Quoted(*path));

  // Owner-only before the socket is reachable under its real name.
  if (::chmod(bind_socket.c_str(), 0600) != 0) {
    return Internal("chmod " + Quoted(bind_socket) + ": " + Errno(errno));
  }
  if (::rename(bind_socket.c_str(), path->c_str()) != 0) {
    return Internal("cannot move the socket to " + Quoted(*path) + ": " + Errno(errno));
  }
  struct stat st;
  if (::lstat(path->c_str(), &st) == 0) server->socket_inode_ = st.st_ino;
  spdlog::info("CSI {} listening on unix://{} (driver {}, version {}, node {})",
               !controller ? "node"
               : node      ? "controller and node"
                           : "controller",
               *path, kDriverName, options.version, options.node_id);
  return server;
}

Server::~Server() { Shutdown(); }

void Server::Shutdown() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_.reset();
  // Only our own socket: a newer instance may already have replaced it.
  struct stat st;
  if (socket_inode_ != 0 && ::lstat(socket_path_.c_str(), &st) == 0 && st.st_ino == socket_inode_) {
    ::unlink(socket_path_.c_str());
  }
}

}  // namespace freshfs::csi
