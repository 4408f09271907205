/*
 * libFuzzer target for the file check's status format ("NAME UP|DOWN"
 * lines, written by another system). The parser is static in
 * check_file.c and its only caller is a libuv watcher that reads after
 * an inotify event and a debounce, a few reads a second at best; this
 * target compiles check_file.c into itself (the archive's copy is then
 * never linked) and calls parse() directly, many thousand times a
 * second, on exactly the text a read would hand it.
 */
#include "../../src/health/check_file.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* read_work() leaves a NUL past the text */
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    problems_t probs = {NULL, 0};
    size_t n = 0;
    file_entry_t *entries = parse("/fuzz/status", text, size, &n, &probs);
    for (size_t i = 0; i < n; i++) {
        const file_entry_t *e = &entries[i];
        if (!e->name || !e->name[0] || strpbrk(e->name, " \t\r\n#") ||
            (e->state != HEALTH_UP && e->state != HEALTH_DOWN))
            abort();
        if (e->is_address && e->addr.family != AF_INET && e->addr.family != AF_INET6)
            abort();
        if ((const char *)e->name < text || (const char *)e->name >= text + size)
            abort();
    }
    for (size_t i = 0; i < probs.n; i++)
        free(probs.msg[i]);
    free(probs.msg);
    free(entries);
    free(text);
    return 0;
}
