// Process-wide settings for a gateway serving thousands of connections; the
// daemon applies them before it starts, and so do the benchmarks that run a
// Gateway in their own process, so that they measure what the daemon does.
#pragma once

namespace gridgate::gateway {

// Raises the soft open-file limit to the hard one: every connected charger
// holds a socket, and a shell's default soft limit (1024) would refuse the
// thousandth. Returns the soft limit now in force (0 if it cannot be read).
unsigned long long raise_open_file_limit();

}  // namespace gridgate::gateway
