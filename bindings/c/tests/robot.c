/* Reads and writes a `Robot` segment (schemas/src/robot.rs: bool, enums,
 * char, Utf16, FixedStr, arrays of them, a nested struct) with the header
 * `shm codegen --lang c` makes for it; compiled as C and as C++. Usage:
 *   robot read NAME    prints every field; exit 1 with the reader's
 *                      message (the field path and the bad value) if a
 *                      value is invalid
 *   robot write NAME   claims write access, changes a field of each kind,
 *                      writes; then tries to write armed = 2 and prints
 *                      `refused: MESSAGE` */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "robot.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Text from the segment (validated UTF-8), printable ASCII as is and every
 * other byte as \xNN: never a raw byte to the terminal. */
static void print_text(const char *field, const char *text, size_t len)
{
    size_t i;
    printf("%s=", field);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    putchar('\n');
}

static int print_str(const char *field, const void *s, size_t cap)
{
    char msg[256];
    size_t len = 0;
    if (shm_check_str(s, cap, &len, "", msg, sizeof msg) != SHM_OK)
        return 1;
    print_text(field, (const char *)s + 2, len);
    return 0;
}

int main(int argc, char **argv)
{
    char name[512], msg[256];
    struct stat st;
    void *base;
    int fd, write_mode, i;
    if (argc != 3) {
        fprintf(stderr, "usage: %s read|write NAME\n", argv[0]);
        return 2;
    }
    write_mode = strcmp(argv[1], "write") == 0;
    snprintf(name, sizeof name, "/%s", argv[2]);
    fd = shm_open(name, write_mode ? O_RDWR : O_RDONLY, 0);
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror("shm_open");
        return 1;
    }
    base = mmap(NULL, (size_t)st.st_size, write_mode ? PROT_READ | PROT_WRITE : PROT_READ,
                MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (!write_mode) {
        shm_view view;
        Robot r;
        const char *err = robot_check(base, (size_t)st.st_size, &view);
        const char *text;
        size_t len;
        if (err != NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (robot_read(&view, &r, 1000000ul, msg, sizeof msg) != SHM_OK) {
            fprintf(stderr, "%s: %s\n", name, msg);
            return 1;
        }
        printf("seq=%llu\n", (unsigned long long)r.seq);
        printf("initial=U+%04lX\n", (unsigned long)r.initial);
        printf("letter=U+%04X\n", (unsigned)r.letter);
        printf("armed=%u\n", (unsigned)r.armed);
        printf("mode=%s\n", Mode_name(r.mode));
        if (shm_str14_get(&r.label, &text, &len, msg, sizeof msg) != SHM_OK)
            return 1;
        print_text("label", text, len);
        printf("flags=%u,%u,%u,%u\n", (unsigned)r.flags[0], (unsigned)r.flags[1],
               (unsigned)r.flags[2], (unsigned)r.flags[3]);
        for (i = 0; i < 3; i++) {
            char field[32];
            const Joint *j = &r.joints[i];
            printf("joints[%d]=%.1f %s %u %s\n", i, (double)j->position, Mode_name(j->mode),
                   (unsigned)j->enabled, Axis_name(j->axis));
            snprintf(field, sizeof field, "joints[%d].name", i);
            if (print_str(field, &j->name, 8) != 0)
                return 1;
        }
        if (print_str("names[0]", &r.names[0], 6) != 0 || print_str("names[1]", &r.names[1], 6) != 0)
            return 1;
        return 0;
    } else {
        shm_writer w;
        shm_takeover take;
        Robot r;
        if (robot_claim(&w, fd, base, (size_t)st.st_size, 0, &take, msg, sizeof msg) != SHM_OK
            || robot_read(&w.view, &r, 1000000ul, msg, sizeof msg) != SHM_OK) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        r.seq = 43;
        r.initial = 0x263a; /* U+263A */
        r.letter = 'Q';
        r.armed = 0;
        r.mode = MODE_FAULT;
        r.flags[1] = 1;
        r.joints[0].axis = AXIS_PLUS;
        r.joints[1].enabled = 0;
        if (shm_str14_set(&r.label, "right-arm", 9) != SHM_OK
            || shm_str8_set(&r.joints[2].name, "hand", 4) != SHM_OK
            || shm_str6_set(&r.names[1], "ok", 2) != SHM_OK
            || shm_str6_set(&r.names[0], "too long!", 9) != SHM_ERR_INVALID
            || shm_str6_set(&r.names[0], "\xff", 1) != SHM_ERR_INVALID) {
            fprintf(stderr, "setting the strings went wrong\n");
            return 1;
        }
        if (robot_write(&w, &r, msg, sizeof msg) != SHM_OK) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        printf("written\n");
        r.armed = 2;
        if (robot_write(&w, &r, msg, sizeof msg) == SHM_ERR_INVALID)
            printf("refused: %s\n", msg);
        shm_writer_release(&w);
        return 0;
    }
}
