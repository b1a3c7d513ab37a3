/*
 * Test-only stand-in for bcryptprimitives.dll, for Wine 8, which lacks ProcessPrng (Rust's
 * standard library imports it since Rust 1.78; without it the receiver exits with code 53
 * before printing anything). The Wine tests build it and put it next to the program under
 * test. It is never shipped: real Windows 10 and 11 have ProcessPrng.
 */
#include <windows.h>
#include <bcrypt.h>

/* Fills `data` with `len` random bytes from the system's generator, as ProcessPrng does. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    const SIZE_T chunk_max = 1u << 30;

    while (len > 0) {
        ULONG chunk = (ULONG)(len < chunk_max ? len : chunk_max);
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk,
                                            BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
