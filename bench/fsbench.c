// fsbench: tiny measurement helper for bench/run (same binary for every contender).
//   fsbench mkdata NDIRS NFILES PER ROOT...  create dNNN/fNNNNN (empty files); dirs
//                                            [k*PER, (k+1)*PER) go to the k-th ROOT
//   fsbench stat NDIRS NFILES PER ROOT...    fstatat(2) every dNNN/fNNNNN once, relative
//                                            to an fd of its ROOT (same layout)
//   fsbench read FILE                        read FILE once with 1 MiB read(2)s
//   fsbench warm FILE...                     read the FILEs in lockstep, 1 MiB of each in
//                                            turn, so their page-cache copies are
//                                            allocated interleaved (no copy gets
//                                            systematically "earlier" memory)
//   fsbench evict FILE                       drop FILE's clean pages (POSIX_FADV_DONTNEED)
//   fsbench resident FILE                 fraction of FILE's pages in the page cache
//   fsbench smallread DIR N                  open+read+close DIR/f00000..f<N-1> (relative to
//                                            an fd of DIR); prints "<seconds> <files>"
//   fsbench watch ROOT CAP                   visibility poller for bench/freshness: reads
//                                            "m ID RELPATH TOKEN T0" (file must start with
//                                            TOKEN) or "n ID RELPATH T0" (name must exist)
//                                            from stdin; T0 = CLOCK_MONOTONIC seconds of the
//                                            change; checks every pending item, sleeps ~1 ms,
//                                            repeats (items older than 2 s: every age/200);
//                                            prints "r ID LATENCY" when seen, or
//                                            "r ID -1" after CAP seconds; at EOF with nothing
//                                            pending: "s SWEEPS SECONDS CHECKS" (sweep
//                                            intervals with items pending, their total)
//   fsbench list DIR                         readdir(3) DIR to the end, then fstatat(2) every
//                                            entry (no "." and ".."); prints "<readdir
//                                            seconds> <stat seconds> <entries>"
//   fsbench write FILE MIB                   create/truncate FILE, write MIB MiB with 1 MiB
//                                            write(2)s (distinct content per MiB), close;
//                                            prints "<seconds> <bytes>" (close included)
//   fsbench create DIR N SIZE                create DIR/c00000..c<N-1> (O_EXCL), write SIZE
//                                            bytes to each, close; prints "<seconds> <files>"
// Option -nPASSES (first argument) repeats read/stat PASSES times in one timed sample.
// read/stat print "<seconds> <count>" (bytes or stats); timing excludes process start.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what, const char *arg) {
  fprintf(stderr, "fsbench: %s %s: %s\n", what, arg, strerror(errno));
  return 1;
}

static void path_of(char *buf, size_t n, long d, long f) {
  if (f < 0) snprintf(buf, n, "d%03ld", d);
  else snprintf(buf, n, "d%03ld/f%05ld", d, f);
}

struct item { long id; char kind; char path[256]; char token[64]; double t0, next; };

static int seen(const char *root, const struct item *it) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, it->path);
  if (it->kind == 'n') {
    struct stat st;
    return stat(path, &st) == 0;
  }
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  char buf[8192];
  ssize_t r = read(fd, buf, sizeof buf);
  close(fd);
  size_t n = strlen(it->token);
  return r >= (ssize_t)n && !memcmp(buf, it->token, n);
}

static int watch(const char *root, double cap) {
  size_t cap_items = 1024, npend = 0, inlen = 0;
  struct item *pend = malloc(cap_items * sizeof *pend);
  char in[65536];
  int eof = 0;
  long sweeps = 0, checks = 0;
  double busy = 0, last = 0;  // time between consecutive sweeps with items pending
  while (!eof || npend) {
    struct pollfd pfd = {0, POLLIN, 0};
    int r = poll(&pfd, eof ? 0 : 1, npend ? 1 : (eof ? 0 : -1));
    if (r > 0) {
      ssize_t n = read(0, in + inlen, sizeof in - 1 - inlen);
      if (n <= 0) eof = 1;
      else inlen += n;
      char *line = in, *nl;
      while ((nl = memchr(line, '\n', in + inlen - line))) {
        *nl = 0;
        struct item it = {0};
        if (line[0] == 'm' &&
            sscanf(line, "m %ld %255s %63s %lf", &it.id, it.path, it.token, &it.t0) == 4)
          it.kind = 'm';
        else if (line[0] == 'n' && sscanf(line, "n %ld %255s %lf", &it.id, it.path, &it.t0) == 3)
          it.kind = 'n';
        else {
          fprintf(stderr, "fsbench watch: bad line: %s\n", line);
          return 2;
        }
        if (npend == cap_items) pend = realloc(pend, (cap_items *= 2) * sizeof *pend);
        pend[npend++] = it;
        line = nl + 1;
      }
      inlen -= line - in;
      memmove(in, line, inlen);
    }
    if (!npend) continue;
    double ts = now();
    if (last > 0) busy += ts - last, sweeps++;
    last = ts;
    for (size_t i = 0; i < npend;) {
      double t = now();
      int ok = 0;
      if (t >= pend[i].next) {
        ok = seen(root, &pend[i]);
        t = now();
        checks++;
        // Every sweep (~1 ms) for the first 2 s; then every age/200 (0.5% resolution),
        // so that items a contender never shows cost little CPU while they wait.
        double age = t - pend[i].t0;
        pend[i].next = age < 2.0 ? 0 : t + age / 200;
      }
      if (ok || t - pend[i].t0 > cap) {
        printf("r %ld %.6f\n", pend[i].id, ok ? t - pend[i].t0 : -1.0);
        fflush(stdout);
        pend[i] = pend[--npend];
      } else {
        i++;
      }
    }
    if (!npend) last = 0;
  }
  printf("s %ld %.3f %ld\n", sweeps, busy, checks);
  return 0;
}

int main(int argc, char **argv) {
  long passes = 1;
  if (argc > 1 && !strncmp(argv[1], "-n", 2)) {
    passes = atol(argv[1] + 2);
    if (passes < 1) passes = 1;
    argv++, argc--;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: fsbench mkdata|stat|read|warm|evict|resident|smallread|watch|list|write|create ARGS...\n");
    return 2;
  }
  const char *cmd = argv[1];
  char p[64];
  if ((!strcmp(cmd, "mkdata") || !strcmp(cmd, "stat")) && argc >= 6) {
    long nd = atol(argv[2]), nf = atol(argv[3]), per = atol(argv[4]);
    int nroots = argc - 5;
    if (per <= 0 || (nd + per - 1) / per > nroots) {
      fprintf(stderr, "fsbench: %ld dirs need %ld roots\n", nd, per > 0 ? (nd + per - 1) / per : 0);
      return 2;
    }
    int *roots = calloc(nroots, sizeof(int));
    for (int i = 0; i < nroots; i++) {
      roots[i] = open(argv[5 + i], O_RDONLY | O_DIRECTORY);
      if (roots[i] < 0) return die("open", argv[5 + i]);
    }
    if (!strcmp(cmd, "mkdata")) {
      for (long d = 0; d < nd; d++) {
        int root = roots[d / per];
        path_of(p, sizeof p, d, -1);
        if (mkdirat(root, p, 0755) && errno != EEXIST) return die("mkdir", p);
        for (long f = 0; f < nf; f++) {
          path_of(p, sizeof p, d, f);
          int fd = openat(root, p, O_CREAT | O_WRONLY, 0644);
          if (fd < 0) return die("create", p);
          close(fd);
        }
      }
      return 0;
    }
    struct stat st;
    double t0 = now();
    for (long i = 0; i < passes; i++)
      for (long d = 0; d < nd; d++) {
        int root = roots[d / per];
        for (long f = 0; f < nf; f++) {
          path_of(p, sizeof p, d, f);
          if (fstatat(root, p, &st, 0)) return die("stat", p);
        }
      }
    double t1 = now();
    printf("%.9f %ld\n", t1 - t0, passes * nd * nf);
    return 0;
  }
  if (!strcmp(cmd, "read") && argc == 3) {
    size_t bs = 1 << 20;
    char *buf = aligned_alloc(4096, bs);
    long long total = 0;
    double t0 = now();
    for (long i = 0; i < passes; i++) {
      int fd = open(argv[2], O_RDONLY);
      if (fd < 0) return die("open", argv[2]);
      for (;;) {
        ssize_t n = read(fd, buf, bs);
        if (n < 0) return die("read", argv[2]);
        if (n == 0) break;
        total += n;
      }
      close(fd);
    }
    double t1 = now();
    printf("%.9f %lld\n", t1 - t0, total);
    return 0;
  }
  if (!strcmp(cmd, "warm")) {
    int n = argc - 2, open_left = n;
    int *fds = calloc(n, sizeof(int));
    char *buf = malloc(1 << 20);
    for (int i = 0; i < n; i++) {
      fds[i] = open(argv[2 + i], O_RDONLY);
      if (fds[i] < 0) return die("open", argv[2 + i]);
    }
    while (open_left > 0)
      for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        ssize_t r = read(fds[i], buf, 1 << 20);
        if (r < 0) return die("read", argv[2 + i]);
        if (r == 0) close(fds[i]), fds[i] = -1, open_left--;
      }
    return 0;
  }
  if (!strcmp(cmd, "evict") && argc == 3) {
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) return die("open", argv[2]);
    int e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (e) { errno = e; return die("fadvise", argv[2]); }
    close(fd);
    return 0;
  }
  if (!strcmp(cmd, "resident") && argc == 3) {
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) return die("open", argv[2]);
    struct stat st;
    if (fstat(fd, &st)) return die("fstat", argv[2]);
    if (st.st_size == 0) { printf("1.0\n"); return 0; }
    void *m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) { printf("-1\n"); return 0; }  // e.g. direct_io: unknown
    long pg = sysconf(_SC_PAGESIZE);
    size_t np = (st.st_size + pg - 1) / pg;
    unsigned char *vec = malloc(np);
    if (mincore(m, st.st_size, vec)) return die("mincore", argv[2]);
    size_t in = 0;
    for (size_t i = 0; i < np; i++) in += vec[i] & 1;
    printf("%.6f\n", (double)in / np);
    return 0;
  }
  if (!strcmp(cmd, "smallread") && argc == 4) {
    long n = atol(argv[3]);
    int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (dir < 0) return die("open", argv[2]);
    char buf[65536];
    double t0 = now();
    for (long i = 0; i < passes; i++)
      for (long f = 0; f < n; f++) {
        snprintf(p, sizeof p, "f%05ld", f);
        int fd = openat(dir, p, O_RDONLY);
        if (fd < 0) return die("open", p);
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0) {}
        if (r < 0) return die("read", p);
        close(fd);
      }
    double t1 = now();
    printf("%.9f %ld\n", t1 - t0, passes * n);
    return 0;
  }
  if (!strcmp(cmd, "list") && argc == 3) {
    double t0 = now();
    DIR *d = opendir(argv[2]);
    if (!d) return die("opendir", argv[2]);
    size_t cap = 4096, n = 0;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
      names[n++] = strdup(e->d_name);
    }
    if (errno) return die("readdir", argv[2]);
    double t1 = now();
    struct stat st;
    for (size_t i = 0; i < n; i++)
      if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW)) return die("stat", names[i]);
    double t2 = now();
    closedir(d);
    printf("%.9f %.9f %zu\n", t1 - t0, t2 - t1, n);
    return 0;
  }
  if (!strcmp(cmd, "write") && argc == 4) {
    long mib = atol(argv[3]);
    size_t bs = 1 << 20;
    unsigned char *buf = aligned_alloc(4096, bs);
    unsigned long long x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < bs; i++) {  // xorshift: incompressible, no syscall cost
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      buf[i] = (unsigned char)x;
    }
    double t0 = now();
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return die("create", argv[2]);
    for (long i = 0; i < mib; i++) {
      memcpy(buf, &i, sizeof i);  // every MiB differs from the others
      for (size_t off = 0; off < bs;) {
        ssize_t w = write(fd, buf + off, bs - off);
        if (w < 0) return die("write", argv[2]);
        off += w;
      }
    }
    if (close(fd)) return die("close", argv[2]);
    double t1 = now();
    printf("%.9f %lld\n", t1 - t0, (long long)mib << 20);
    return 0;
  }
  if (!strcmp(cmd, "create") && argc == 5) {
    long n = atol(argv[3]), size = atol(argv[4]);
    char *buf = malloc(size > 0 ? size : 1);
    memset(buf, 'c', size > 0 ? size : 1);
    int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (dir < 0) return die("open", argv[2]);
    double t0 = now();
    for (long f = 0; f < n; f++) {
      snprintf(p, sizeof p, "c%05ld", f);
      int fd = openat(dir, p, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0) return die("create", p);
      if (size > 0 && write(fd, buf, size) != size) return die("write", p);
      if (close(fd)) return die("close", p);
    }
    double t1 = now();
    printf("%.9f %ld\n", t1 - t0, n);
    return 0;
  }
  if (!strcmp(cmd, "watch") && argc == 4) return watch(argv[2], atof(argv[3]));
  fprintf(stderr, "fsbench: bad arguments\n");
  return 2;
}
