// SlabPool<T>: many small objects of one type that live long (the inode
// table's nodes: one per entry the kernel holds), packed into slabs of
// their own instead of scattered over the heap between short-lived
// allocations. Freed short-lived memory then leaves whole pages free, which
// malloc hands back; scattered, every page with one live node stays
// resident (docs/scale.md, "Memory per entry held").
//
// A slab is one allocation of kPerSlab slots (no per-object malloc header
// either); slots are touched as they are first used, and a slab whose
// objects are all freed is released (unless it is the last one), so memory
// follows what is held.
//
// Not thread-safe: its owner's lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <new>
#include <set>
#include <utility>

namespace freshfs {

template <typename T, size_t kPerSlab = 1024>
class SlabPool {
 public:
  SlabPool() = default;
  SlabPool(const SlabPool&) = delete;
  SlabPool& operator=(const SlabPool&) = delete;
  // Every object must have been deleted (Delete) before.
  ~SlabPool() {
    for (auto& [addr, slab] : slabs_) {
      ::operator delete(slab->base);
      delete slab;
    }
  }

  template <typename... Args>
  T* New(Args&&... args) {
    Slab* slab = available_.empty() ? NewSlab() : *available_.begin();
    void* slot;
    if (slab->free) {
      slot = slab->free;
      slab->free = slab->free->next;
    } else {
      slot = slab->base + slab->bumped++ * sizeof(Slot);
    }
    if (++slab->used == kPerSlab) available_.erase(slab);
    return new (slot) T(std::forward<Args>(args)...);
  }

  void Delete(T* object) {
    if (!object) return;
    object->~T();
    auto it = std::prev(slabs_.upper_bound(reinterpret_cast<uintptr_t>(object)));
    Slab* slab = it->second;
    auto* slot = reinterpret_cast<Slot*>(object);
    slot->next = slab->free;
    slab->free = slot;
    --slab->used;
    available_.insert(slab);
    if (slab->used == 0 && slabs_.size() > 1) {
      available_.erase(slab);
      ::operator delete(slab->base);
      slabs_.erase(it);
      delete slab;
    }
  }

 private:
  union Slot {
    Slot* next;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  static constexpr size_t kBytes = kPerSlab * sizeof(Slot);
  struct Slab {
    unsigned char* base = nullptr;
    Slot* free = nullptr;  // freed slots
    size_t bumped = 0;     // slots handed out at least once
    size_t used = 0;
  };
  // Lowest address first: new objects fill the oldest slabs, so the newest
  // ones empty out and go.
  struct ByAddress {
    bool operator()(const Slab* a, const Slab* b) const { return a->base < b->base; }
  };

  Slab* NewSlab() {
    void* p = ::operator new(kBytes);
    auto* slab = new Slab{static_cast<unsigned char*>(p)};
    slabs_.emplace(reinterpret_cast<uintptr_t>(p), slab);
    available_.insert(slab);
    return slab;
  }

  std::map<uintptr_t, Slab*> slabs_;      // by base address
  std::set<Slab*, ByAddress> available_;  // slabs with a free slot
};

}  // namespace freshfs
