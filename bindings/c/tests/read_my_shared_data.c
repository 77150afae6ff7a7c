/* A C (and C++: the tests compile it both ways) client of a segment made
 * by the Rust `writer` example: plain shm_open + mmap, the generated
 * header, no Rust anywhere.
 * Usage: read_my_shared_data NAME [--pause]. Prints what it finds; exit 1
 * on error. With --pause it prints `checked` after the check and waits
 * for a line on stdin before reading (tests change the segment there). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "my_shared_data.h"

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "--pause") == 0)) {
        fprintf(stderr, "usage: %s NAME [--pause]\n", argv[0]);
        return 2;
    }
    char name[512];
    snprintf(name, sizeof name, "/%s", argv[1][0] == '/' ? argv[1] + 1 : argv[1]);
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) {
        perror("shm_open");
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        perror("fstat");
        return 1;
    }
    size_t len = (size_t)st.st_size;
    if (len < SHM_HEADER_SIZE) {
        fprintf(stderr, "%s: %zu bytes, smaller than the segment header\n", name, len);
        return 1;
    }
    void *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    shm_view view;
    const char *err = my_shared_data_check(base, len, &view);
    if (err != NULL) {
        fprintf(stderr, "%s: %s\n", name, err);
        return 1;
    }
    if (argc == 3) {
        char line[16];
        printf("checked\n");
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL)
            return 1;
    }
    /* What was checked, never the live header. */
    const shm_segment_header *h = &view.header;
    MySharedData v;
    char msg[256];
    if (my_shared_data_read(&view, &v, 10000000ul, msg, sizeof msg) != SHM_OK) {
        fprintf(stderr, "%s: %s\n", name, msg);
        return 1;
    }
    printf("magic=%.7s\n", (const char *)h->magic);
    printf("fingerprint=0x%016llx\n", (unsigned long long)h->fingerprint);
    printf("schema=%.48s v%u\n", (const char *)h->schema_name, (unsigned)h->schema_version);
    printf("value=%d\n", (int)v.value);
    printf("letter=%c\n", (char)v.letter);
    printf("numbers[10]=%.2f\n", (double)v.numbers[10]);
    munmap(base, len);
    close(fd);
    return 0;
}
