/* LD_PRELOAD shim (bench/as_avx2): the process and its children see an AVX2-only CPU, without
   AVX-512, VNNI (AVX-512 and AVX), bfloat16, AMX or GFNI, so that onnxruntime, torch, numpy, numba
   and usearch pick their AVX2 code on a CPU that has more. Through CPUID faulting (Linux's
   arch_prctl ARCH_SET_CPUID, where the CPU or hypervisor offers it: flag cpuid_fault): each CPUID
   instruction traps, this handler runs it for real with faulting briefly off, clears those bits
   and steps over it. Leaves 7.0 EBX/ECX/EDX and 7.1 EAX/EDX carry the feature bits; leaf 0xD the
   register state sizes. What it cannot change: instructions a library uses without asking CPUID,
   and the cores' own speed (an AVX-512 core runs AVX2 code at its own pace, not an AVX2 CPU's). */
#define _GNU_SOURCE
#include <signal.h>
#include <ucontext.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cpuid.h>

#define ARCH_SET_CPUID 0x1012

static long set_cpuid(int enabled) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

static void mask(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  if (leaf == 7 && sub == 0) {
    r[1] &= ~((1u<<16)|(1u<<17)|(1u<<21)|(1u<<26)|(1u<<27)|(1u<<28)|(1u<<30)|(1u<<31));
    r[2] &= ~((1u<<1)|(1u<<6)|(1u<<8)|(1u<<11)|(1u<<12)|(1u<<14));
    r[3] &= ~((1u<<2)|(1u<<3)|(1u<<8)|(1u<<22)|(1u<<23)|(1u<<24)|(1u<<25));
  } else if (leaf == 7 && sub == 1) {
    r[0] &= ~((1u<<4)|(1u<<5)|(1u<<21)|(1u<<23));
    r[3] &= ~((1u<<4)|(1u<<5)|(1u<<10)|(1u<<19));
  } else if (leaf == 0xd && sub == 0) {
    r[0] &= ~((1u<<5)|(1u<<6)|(1u<<7)|(1u<<17)|(1u<<18));
  }
}

static void on_segv(int sig, siginfo_t *info, void *raw) {
  ucontext_t *ctx = raw;
  greg_t *g = ctx->uc_mcontext.gregs;
  const unsigned char *ip = (const unsigned char *)g[REG_RIP];
  if (info->si_code == SI_KERNEL && ip[0] == 0x0f && ip[1] == 0xa2) {
    uint32_t r[4];
    uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
    set_cpuid(1);
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
    set_cpuid(0);
    mask(leaf, sub, r);
    g[REG_RAX] = r[0]; g[REG_RBX] = r[1]; g[REG_RCX] = r[2]; g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
    return;
  }
  (void)sig;
  signal(SIGSEGV, SIG_DFL); /* a real fault: returning re-runs the instruction, which now kills */
}

__attribute__((constructor)) static void start(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &action, NULL);
  if (set_cpuid(0) != 0) { perror("cpuid_mask: ARCH_SET_CPUID"); exit(70); }
}
