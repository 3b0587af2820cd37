#include "util/mountinfo.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace freshfs {

std::string UnescapeMountPath(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto octal = field.substr(i + 1, 3);
      if (octal.find_first_not_of("01234567") == std::string_view::npos) {
        out.push_back(char(std::stoi(std::string(octal), nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<MountEntry> MountsAt(const std::string& path, std::string_view type_prefix) {
  std::vector<MountEntry> found;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options... - fstype source ...
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountpoint;
    fields >> id >> parent >> dev >> root >> mountpoint;
    if (UnescapeMountPath(mountpoint) != path) continue;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::string_view fstype = std::string_view(line).substr(dash + 3);
    fstype = fstype.substr(0, fstype.find(' '));
    if (fstype.substr(0, type_prefix.size()) != type_prefix) continue;
    MountEntry entry;
    entry.fstype = std::string(fstype);
    if (std::sscanf(dev.c_str(), "%u:%u", &entry.major, &entry.minor) != 2) continue;
    found.push_back(std::move(entry));
  }
  return found;
}

bool IsMountedAt(const std::string& path, std::string_view type_prefix) {
  return !MountsAt(path, type_prefix).empty();
}

}  // namespace freshfs
