// The scan both directions of our JSON text share: the first character of a
// string that is not itself (a '"', a '\\' or a control character below
// 0x20: what JSON escapes), 16 bytes a step where SSE2 is.
#pragma once

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace gridgate::ocpp::detail {

// The first byte in [p, end) that is '"', '\\' or below 0x20; end if none.
inline const char* find_string_special(const char* p, const char* const end) {
#ifdef __SSE2__
    // Below 0x20, unsigned: max(c, 0x1f) == 0x1f.
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(s, quote), _mm_cmpeq_epi8(s, backslash)),
                         _mm_cmpeq_epi8(_mm_max_epu8(s, control), control));
        if (const int mask = _mm_movemask_epi8(hit))
            return p + __builtin_ctz(static_cast<unsigned>(mask));
        p += 16;
    }
#endif
    for (; p != end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c == '"' || c == '\\') return p;
    }
    return end;
}

}  // namespace gridgate::ocpp::detail
