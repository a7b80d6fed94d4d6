#pragma once
// io_uring constants newer than the headers this project builds against (Debian 12: liburing
// 2.3 with the kernel 6.1 uapi), defined once, here, with the values of the kernel's
// include/uapi/linux/io_uring.h. Whether the running kernel has them is probed at run time
// (backends/io_uring_probe.cpp, loadgen/uring_probe.cpp), never assumed from these definitions.
#include <liburing.h>

// sqe->ioprio flag of send/recv: one operation fills (or sends) several provided buffers (6.10).
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif

// io_uring_params.features bit: the kernel takes IORING_RECVSEND_BUNDLE (6.10).
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
