// The scheduler of the CUDA emulator (arignote/compiler/cuda_emulate.py): the blocks of a
// launch run one after another, the threads of a block as fibers (ucontext) on this OS
// thread. A fiber runs until it reaches a barrier (__syncthreads, a warp operation) or
// ends; when none can run, the barrier every waiting thread agrees on is released. The
// order in which runnable threads (and blocks) run is forward, reverse or shuffled, so a
// missing barrier shows up as different results. A barrier some threads can never reach
// (they ended, or wait at another one) is reported as an error, never waited on.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <ucontext.h>

#include <algorithm>
#include <random>
#include <vector>

struct ag_dim3 { unsigned x, y, z; };

namespace {

enum State { READY, AT_BLOCK, AT_WARP, DONE };

struct Fiber {
  ucontext_t ctx;  // (to start it; it then switches with _setjmp/_longjmp: no signal-mask syscalls)
  jmp_buf jb;
  bool started;
  ag_dim3 tid;
  State state;
  int line;
};

struct Launch {
  ucontext_t main;
  jmp_buf main_jb;
  std::vector<Fiber> fibers;
  std::vector<uint64_t> posted[2];  // (alternate exchanges use alternate slots)
  std::vector<unsigned> exchanges;
  ag_dim3 block, bdim, gdim;
  Fiber* cur;
  void (*kernel)(const void*);
  const void* args;
};

const size_t STACK = 256 * 1024;
thread_local Launch* L = nullptr;
thread_local std::vector<char>* stacks = nullptr;

void entry() {
  L->kernel(L->args);
  L->cur->state = DONE;
  _longjmp(L->main_jb, 1);  // (never returns: its stack is reused)
}

void yield(State s) {
  L->cur->state = s;
  if (!_setjmp(L->cur->jb)) _longjmp(L->main_jb, 1);
}

void resume(Fiber& f) {
  L->cur = &f;
  if (_setjmp(L->main_jb)) return;
  if (f.started) _longjmp(f.jb, 1);
  f.started = true;
  setcontext(&f.ctx);
}

std::vector<unsigned> ordering(unsigned n, int order, std::mt19937& rng) {
  std::vector<unsigned> idx(n);
  for (unsigned i = 0; i < n; i++) idx[i] = i;
  if (order == 1) std::reverse(idx.begin(), idx.end());
  if (order == 2) std::shuffle(idx.begin(), idx.end(), rng);
  return idx;
}

int fail(char* msg, int len, const char* text) {
  snprintf(msg, len, "%s", text);
  return 1;
}

// Run the current block; 0, or 1 with ``msg`` set.
int run_block(int order, std::mt19937& rng, char* msg, int len) {
  const unsigned n = L->bdim.x * L->bdim.y * L->bdim.z;
  char* base = stacks->data();
  for (unsigned i = 0; i < n; i++) {
    Fiber& f = L->fibers[i];
    f.tid = {i % L->bdim.x, (i / L->bdim.x) % L->bdim.y, i / (L->bdim.x * L->bdim.y)};
    f.state = READY;
    f.started = false;
    f.line = 0;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = base + (size_t)i * STACK;
    f.ctx.uc_stack.ss_size = STACK;
    f.ctx.uc_link = &L->main;
    makecontext(&f.ctx, entry, 0);
  }
  char text[512];
  for (;;) {
    for (unsigned i : ordering(n, order, rng)) {
      Fiber& f = L->fibers[i];
      if (f.state == READY) resume(f);
    }
    bool released = false, all_done = true;
    for (unsigned w = 0; w < n; w += 32) {  // a warp waiting at a warp operation
      unsigned waiting = 0, lanes = std::min(32u, n - w), odd = n;
      for (unsigned i = w; i < w + lanes; i++) {
        if (L->fibers[i].state == AT_WARP) waiting++;
        else odd = i;
        if (L->fibers[i].state != DONE) all_done = false;
      }
      if (waiting == lanes) {
        for (unsigned i = w; i < w + lanes; i++) L->fibers[i].state = READY;
        released = true;
      } else if (waiting) {
        snprintf(text, sizeof text, "block %u: lanes of warp %u wait at a warp shuffle or vote that "
                 "thread %u %s (a divergent warp operation)", L->block.x, w / 32, odd,
                 L->fibers[odd].state == DONE ? "never reaches: it has ended" :
                 "never reaches: it waits at __syncthreads()");
        return fail(msg, len, text);
      }
    }
    if (all_done) return 0;
    if (released) continue;
    int line = -1;
    for (unsigned i = 0; i < n; i++) {
      const Fiber& f = L->fibers[i];
      if (f.state == DONE) {
        unsigned waiter = 0;
        while (L->fibers[waiter].state != AT_BLOCK) waiter++;
        snprintf(text, sizeof text, "block %u: thread %u waits at __syncthreads() (line %d) that thread "
                 "%u never reaches: it has ended (a divergent barrier)", L->block.x, waiter,
                 L->fibers[waiter].line, i);
        return fail(msg, len, text);
      }
      if (line >= 0 && f.line != line) {
        snprintf(text, sizeof text, "block %u: threads wait at different __syncthreads() (lines %d "
                 "and %d: a divergent barrier)", L->block.x, line, f.line);
        return fail(msg, len, text);
      }
      line = f.line;
    }
    for (unsigned i = 0; i < n; i++) L->fibers[i].state = READY;
  }
}

}  // namespace

extern "C" {

const ag_dim3* ag_emu_thread_idx(void) { return &L->cur->tid; }
const ag_dim3* ag_emu_block_idx(void) { return &L->block; }
const ag_dim3* ag_emu_block_dim(void) { return &L->bdim; }
const ag_dim3* ag_emu_grid_dim(void) { return &L->gdim; }

void ag_emu_syncthreads(int line) {
  L->cur->line = line;
  yield(AT_BLOCK);
}

unsigned ag_emu_warp(uint64_t mine, uint64_t* all) {
  const unsigned n = L->bdim.x * L->bdim.y * L->bdim.z;
  const unsigned me = (unsigned)(L->cur - L->fibers.data()), base = me & ~31u;
  const unsigned lanes = std::min(32u, n - base);
  // Lanes take part in the same exchanges in the same order, so exchange k uses slots k % 2:
  // a lane can only write them again for exchange k + 2, after every lane passed exchange
  // k + 1's barrier, which each reaches after reading exchange k's values.
  std::vector<uint64_t>& slots = L->posted[L->exchanges[me]++ & 1u];
  slots[me] = mine;
  yield(AT_WARP);  // every lane has posted
  for (unsigned i = 0; i < lanes; i++) all[i] = slots[base + i];
  return lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
}

// Run ``kernel(args)`` on a grid of ``grid`` blocks of ``block`` threads (one dimension each);
// ``order``: 0 forward, 1 reverse, 2 shuffled (by ``seed``). 0, or 1 with ``msg`` set.
int ag_emu_launch(void (*kernel)(const void*), const void* args, unsigned grid, unsigned block,
                  int order, unsigned seed, char* msg, int len) {
  if (block == 0 || block > 1024 || grid == 0) return fail(msg, len, "a launch needs 1..1024 threads and a block");
  Launch launch;
  Launch* outer = L;  // (a kernel never launches another; stay safe anyway)
  L = &launch;
  launch.kernel = kernel;
  launch.args = args;
  launch.bdim = {block, 1, 1};
  launch.gdim = {grid, 1, 1};
  launch.fibers.resize(block);
  launch.posted[0].resize(block);
  launch.posted[1].resize(block);
  launch.exchanges.assign(block, 0);
  if (stacks == nullptr) stacks = new std::vector<char>();
  if (stacks->size() < (size_t)block * STACK) stacks->resize((size_t)block * STACK);
  std::mt19937 rng(seed);
  int rc = 0;
  for (unsigned b : ordering(grid, order, rng)) {
    launch.block = {b, 0, 0};
    std::fill(launch.exchanges.begin(), launch.exchanges.end(), 0u);
    rc = run_block(order, rng, msg, len);
    if (rc) break;
  }
  L = outer;
  return rc;
}

}
