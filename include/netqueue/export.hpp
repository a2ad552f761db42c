#pragma once
/// @file
/// NETQUEUE_API marks what libnetqueue exports. The library is compiled with
/// hidden visibility, so a shared libnetqueue exports only the public API
/// declared in these headers; nothing else is part of its ABI.

#if defined(_WIN32) || defined(__CYGWIN__)
#define NETQUEUE_API
#elif defined(__GNUC__) || defined(__clang__)
#define NETQUEUE_API __attribute__((visibility("default")))
#else
#define NETQUEUE_API
#endif
