#include "gridgate/gateway/process.hpp"

#include <sys/resource.h>

namespace gridgate::gateway {

unsigned long long raise_open_file_limit() {
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) != 0) return 0;
    if (fds.rlim_cur < fds.rlim_max) {
        const auto before = fds.rlim_cur;
        fds.rlim_cur = fds.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &fds) != 0) fds.rlim_cur = before;
    }
    return fds.rlim_cur;
}

}  // namespace gridgate::gateway
