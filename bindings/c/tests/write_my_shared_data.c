/* A C writer (and waiter) of a `MySharedData` segment, with the generated
 * header only: claims write access as the Rust runtime does, writes with
 * its snapshot protocol, releases. The tests run it against Rust readers
 * and writers. Usage:
 *   write_my_shared_data write NAME VALUE [--hold]
 *       claims (no wait), prints what the claim found, writes VALUE, 'Z'
 *       and numbers[10] = 2.5, prints `written version=N`; with --hold
 *       waits for a line on stdin before releasing. Exit 3 if busy.
 *   write_my_shared_data mid-write NAME
 *       claims, writes once, then begins a second write (VALUE 999), stores
 *       its first 8 bytes, prints `mid-write` and stops there for good.
 *   write_my_shared_data wait NAME TIMEOUT_MS (futex|poll|doorbell)
 *       prints `waiting version=N`, waits for the next change and prints
 *       `changed version=N`, or `timeout`. futex: a read-write mapping,
 *       counted in `waiters`; poll: read-only, polling; doorbell: read-only,
 *       counted in the segment's doorbell (`doorbell=1` first if attached,
 *       `doorbell=0` if there is none, and then it polls). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "my_shared_data.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void *map(const char *arg, int writable, int *fd_out, size_t *len_out)
{
    char name[512];
    struct stat st;
    void *base;
    int fd;
    snprintf(name, sizeof name, "/%s", arg[0] == '/' ? arg + 1 : arg);
    fd = shm_open(name, writable ? O_RDWR : O_RDONLY, 0);
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror("shm_open");
        exit(1);
    }
    base = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    *fd_out = fd;
    *len_out = (size_t)st.st_size;
    return base;
}

static void claim(shm_writer *w, const char *arg)
{
    char msg[256];
    shm_takeover take;
    size_t len;
    int fd, r;
    void *base = map(arg, 1, &fd, &len);
    r = my_shared_data_claim(w, fd, base, len, 0, &take, msg, sizeof msg);
    if (r == SHM_ERR_BUSY) {
        printf("busy: %s\n", msg);
        exit(3);
    }
    if (r != SHM_OK) {
        fprintf(stderr, "claim: %s\n", msg);
        exit(1);
    }
    if (take.took_over)
        printf("took over: had_owner=%d previous_pid=%lu last_write_complete=%d version=%llu\n",
               take.had_owner, (unsigned long)take.previous_pid, take.last_write_complete,
               (unsigned long long)take.version);
    else
        printf("claimed\n");
}

int main(int argc, char **argv)
{
    shm_writer w;
    MySharedData v;
    char msg[256], line[16];
    if (argc >= 4 && strcmp(argv[1], "write") == 0) {
        claim(&w, argv[2]);
        if (my_shared_data_read(&w.view, &v, 1000000ul, msg, sizeof msg) != SHM_OK) {
            fprintf(stderr, "read: %s\n", msg);
            return 1;
        }
        v.value = (int32_t)atoi(argv[3]);
        v.letter = 'Z';
        v.numbers[10] = 2.5f;
        if (my_shared_data_write(&w, &v, msg, sizeof msg) != SHM_OK) {
            fprintf(stderr, "write: %s\n", msg);
            return 1;
        }
        printf("written version=%llu\n", (unsigned long long)shm_version(&w.view));
        fflush(stdout);
        if (argc == 5 && strcmp(argv[4], "--hold") == 0 && fgets(line, sizeof line, stdin) == NULL)
            return 1;
        shm_writer_release(&w);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "mid-write") == 0) {
        uint64_t s;
        int t;
        claim(&w, argv[2]);
        if (my_shared_data_read(&w.view, &v, 1000000ul, msg, sizeof msg) != SHM_OK
            || my_shared_data_write(&w, &v, msg, sizeof msg) != SHM_OK) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        v.value = 999;
        v.letter = 'Y';
        /* The first half of a write: the target's counter odd, 8 bytes. */
        t = shm_write_begin(&w, &s);
        shm_store_words(shm_copy_at(&w, t), (const unsigned char *)&v, 8);
        printf("mid-write\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    if (argc == 5 && strcmp(argv[1], "wait") == 0) {
        shm_view view;
        size_t len;
        int fd;
        int futex = strcmp(argv[4], "futex") == 0;
        void *base = map(argv[2], futex, &fd, &len);
        const char *err = my_shared_data_check(base, len, &view);
        uint64_t since, now;
        if (err != NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        shm_doorbell bell;
        bell.words = NULL;
        if (strcmp(argv[4], "doorbell") == 0)
            printf("doorbell=%d\n", shm_doorbell_attach(fd, &bell) == SHM_OK);
        since = shm_version(&view);
        printf("waiting version=%llu\n", (unsigned long long)since);
        fflush(stdout);
        if (shm_wait_for_change_with(&view, &bell, since, strtoull(argv[3], NULL, 10),
                                     futex ? SHM_WAIT_FUTEX : SHM_WAIT_POLL, &now))
            printf("changed version=%llu\n", (unsigned long long)now);
        else
            printf("timeout\n");
        shm_doorbell_detach(&bell);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
    return 2;
}
