/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Rust programs
 * under Wine 8, which lacks it. Rust's std (1.78 and later) imports
 * ProcessPrng from it for random numbers (HashMap seeds). This one passes the
 * request on to RtlGenRandom (SystemFunction036 in advapi32), which Wine has.
 *
 * Built by .ci/windows.sh with mingw-w64 and placed beside the executables.
 * Not for real Windows: it has the genuine DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): always TRUE on Windows. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
