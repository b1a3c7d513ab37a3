/*
 * Test-only: prints what Windows itself reads from an executable's resources, one
 * `name=value` line each, so that a Wine test can check the receiver's version information,
 * icon and manifest through the Windows API rather than by parsing bytes.
 *
 *   resinfo.exe PROGRAM
 *
 * It also prints its own ANSI code page: the test builds it with the receiver's manifest, so
 * `acp=65001` shows that the manifest's UTF-8 code page takes effect.
 */
#include <windows.h>
#include <shellapi.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>

static void print_utf8(const char *name, const wchar_t *value)
{
    char text[1024];
    int len = WideCharToMultiByte(CP_UTF8, 0, value, -1, text, sizeof text, NULL, NULL);
    printf("%s=%s\n", name, len > 0 ? text : "");
}

static void print_version_strings(const wchar_t *program)
{
    static const wchar_t *names[] = {
        L"FileDescription", L"FileVersion", L"ProductName", L"ProductVersion",
        L"OriginalFilename",
    };
    DWORD ignored;
    DWORD size = GetFileVersionInfoSizeW(program, &ignored);
    void *data;
    VS_FIXEDFILEINFO *fixed;
    UINT len;
    size_t i;

    if (size == 0 || !(data = malloc(size)) || !GetFileVersionInfoW(program, 0, size, data)) {
        printf("version=none\n");
        return;
    }
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        wchar_t path[128];
        wchar_t *value;
        char name[64];
        swprintf(path, 128, L"\\StringFileInfo\\040904B0\\%ls", names[i]);
        WideCharToMultiByte(CP_UTF8, 0, names[i], -1, name, sizeof name, NULL, NULL);
        if (VerQueryValueW(data, path, (void **)&value, &len) && len > 0)
            print_utf8(name, value);
    }
    if (VerQueryValueW(data, L"\\", (void **)&fixed, &len) && len >= sizeof *fixed)
        printf("fixed=%u.%u.%u.%u\n", HIWORD(fixed->dwFileVersionMS),
               LOWORD(fixed->dwFileVersionMS), HIWORD(fixed->dwFileVersionLS),
               LOWORD(fixed->dwFileVersionLS));
    free(data);
}

static void print_manifest(const wchar_t *program)
{
    HMODULE module = LoadLibraryExW(program, NULL, LOAD_LIBRARY_AS_DATAFILE);
    HRSRC found = module ? FindResourceW(module, MAKEINTRESOURCEW(1), RT_MANIFEST) : NULL;
    HGLOBAL loaded = found ? LoadResource(module, found) : NULL;
    const char *text = loaded ? LockResource(loaded) : NULL;

    if (!text) {
        printf("manifest=none\n");
        return;
    }
    /* Last, because it spans lines: everything after this line is the manifest. */
    printf("manifest=\n");
    fwrite(text, 1, SizeofResource(module, found), stdout);
}

int wmain(int argc, wchar_t **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: resinfo.exe PROGRAM\n");
        return 2;
    }
    /* Binary mode: the manifest's bytes, and plain \n line ends, exactly as written. */
    _setmode(_fileno(stdout), _O_BINARY);
    printf("acp=%u\n", GetACP());
    printf("icons=%u\n", ExtractIconExW(argv[1], -1, NULL, NULL, 0));
    print_version_strings(argv[1]);
    print_manifest(argv[1]);
    return 0;
}
