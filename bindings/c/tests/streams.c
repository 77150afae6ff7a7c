/* Receives from and sends into the ring `events` and the queue `commands`
 * of a `Plant` segment (shm-cli/tests/c_streams.rs) with its generated
 * header (bindings/c/plant.h, from the `schemas` crate); compiled as C and
 * as C++. As `Event::numbered` and `Command::numbered` (schemas/src/plant.rs)
 * make them, event number i has id i, value 3 i, kind i % 3, ok i % 2 and
 * tag "ev"; command number i has id i, setpoint i / 2, action i % 3 and
 * urgent when i % 3 == 0.
 * Usage:
 *   streams sub NAME COUNT oldest|new [wait|go [SLOW_US [poll|doorbell]]]
 *       subscribes read-only (at the oldest kept event or the next new
 *       one), prints `subscribed at N`, waits for a line on stdin if
 *       `wait`, then receives until COUNT events are received or lost
 *       (sleeping SLOW_US microseconds after each; waiting by polling, or
 *       asleep on the futex counted in the doorbell) and prints
 *       `received R lost L bad B` (bad: out of order or not as above); on
 *       an error, prints `error CODE: MESSAGE` and exits 1
 *   streams scan NAME COUNT
 *       subscribes read-only at the oldest kept event and claims the queue
 *       (read-write), then calls each try_recv COUNT times, never waiting;
 *       prints one line per call: `msg ID`, `lost N`, `empty` or
 *       `error CODE` (for hostile rings and queues: every call returns)
 *   streams batch NAME SIZE
 *       subscribes read-only at the next new event, prints `subscribed at
 *       N`, waits for a line on stdin, then receives batches of up to SIZE
 *       events until one is empty, printing `batch C lost L` for each (and
 *       `bad B` at the end: events out of order or not as above)
 *   streams pub NAME COUNT [wait|torn]
 *       claims write access, prints `claimed`, waits for a line if `wait`,
 *       publishes events 0..COUNT, prints `published COUNT`; with `torn`,
 *       then begins the next publish as a publisher killed in the middle
 *       would leave it (its slot's seq odd, one word of the message
 *       stored), prints `torn at N` and waits for stdin to close
 *   streams consume NAME COUNT [hold]
 *       claims the queue, prints `claimed took_over_from=P position=N`,
 *       takes COUNT commands and prints `consumed C bad B`; with `hold`,
 *       then peeks the next without acknowledging it, prints `peeked ID`
 *       and waits for stdin to close
 *   streams produce NAME COUNT
 *       claims write access and sends commands 0..COUNT, waiting for room,
 *       prints `sent COUNT` */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "plant.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static Event event(uint64_t i)
{
    Event e;
    memset(&e, 0, sizeof e);
    e.id = i;
    e.value = (double)(3 * i);
    e.kind = (EventKind)(i % 3);
    e.ok = (uint8_t)(i % 2);
    shm_str12_set(&e.tag, "ev", 2);
    return e;
}

static int same(const Event *e, uint64_t i)
{
    Event want = event(i);
    return memcmp(e, &want, sizeof want) == 0;
}

static Command command(uint64_t i)
{
    Command c;
    memset(&c, 0, sizeof c);
    c.id = i;
    c.setpoint = (double)i / 2.0;
    c.action = (Action)(i % 3);
    c.urgent = (uint8_t)(i % 3 == 0);
    return c;
}

static int same_command(const Command *c, uint64_t i)
{
    Command want = command(i);
    return memcmp(c, &want, sizeof want) == 0;
}

static int fail(int code, const char *msg)
{
    printf("error %d: %s\n", code, msg);
    return 1;
}

/* Prints what one try_recv returned (`id`: the message's). */
static void outcome(int r, uint64_t id, uint64_t lost)
{
    if (r == SHM_MSG)
        printf("msg %llu\n", (unsigned long long)id);
    else if (r == SHM_LOST)
        printf("lost %llu\n", (unsigned long long)lost);
    else if (r == SHM_EMPTY)
        printf("empty\n");
    else
        printf("error %d\n", r);
}

static int scan(const char *segment, uint64_t count)
{
    char name[512], msg[256];
    struct stat st;
    shm_view view;
    shm_subscriber sub;
    shm_consumer c;
    uint64_t i;
    void *base;
    int fd, r;
    snprintf(name, sizeof name, "/%s", segment);
    fd = shm_open(name, O_RDWR, 0);
    if (fd < 0 || fstat(fd, &st) != 0)
        return 1;
    base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED || plant_check(base, (size_t)st.st_size, &view) != NULL
        || plant_events_subscribe(&view, &sub, msg, sizeof msg) != SHM_OK)
        return 1;
    shm_subscriber_start_oldest(&sub);
    for (i = 0; i < count; i++) {
        Event e;
        uint64_t lost = 0;
        r = plant_events_try_recv(&sub, &e, &lost, msg, sizeof msg);
        outcome(r, e.id, lost);
    }
    r = plant_commands_consumer_claim(&c, fd, base, (size_t)st.st_size, 0, NULL, msg, sizeof msg);
    if (r != SHM_OK) {
        printf("claim %d\n", r);
        return 0;
    }
    for (i = 0; i < count; i++) {
        Command e;
        r = plant_commands_try_recv(&c, &e, msg, sizeof msg);
        outcome(r, e.id, 0);
    }
    plant_commands_release(&c);
    return 0;
}

static int batch(const char *segment, size_t size)
{
    char name[512], msg[256], line[16];
    struct stat st;
    shm_view view;
    shm_subscriber sub;
    Event events[16];
    uint64_t lost, bad = 0;
    size_t count, i;
    void *base;
    int fd, r;
    snprintf(name, sizeof name, "/%s", segment);
    fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0 || fstat(fd, &st) != 0 || size > 16)
        return 1;
    base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED || plant_check(base, (size_t)st.st_size, &view) != NULL
        || plant_events_subscribe(&view, &sub, msg, sizeof msg) != SHM_OK)
        return 1;
    printf("subscribed at %llu\n", (unsigned long long)shm_subscriber_position(&sub));
    if (fgets(line, sizeof line, stdin) == NULL)
        return 1;
    do {
        /* Messages are numbered as their ids: a batch holds the numbers
         * right after the loss it reports. */
        uint64_t first = shm_subscriber_position(&sub);
        r = plant_events_recv_batch(&sub, events, size, &count, &lost, msg, sizeof msg);
        if (r != SHM_OK)
            return fail(r, msg);
        printf("batch %lu lost %llu\n", (unsigned long)count, (unsigned long long)lost);
        for (i = 0; i < count; i++)
            if (!same(&events[i], first + lost + i))
                bad++;
    } while (count > 0 || lost > 0);
    printf("bad %llu\n", (unsigned long long)bad);
    return 0;
}

int main(int argc, char **argv)
{
    char name[512], msg[256], line[16];
    struct stat st;
    void *base;
    int fd, rw;
    uint64_t count, i;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 4) {
        fprintf(stderr, "usage: %s sub|pub|consume|produce NAME COUNT ...\n", argv[0]);
        return 2;
    }
    rw = strcmp(argv[1], "sub") != 0;
    if (strcmp(argv[1], "scan") == 0)
        return scan(argv[2], strtoull(argv[3], NULL, 10));
    if (strcmp(argv[1], "batch") == 0)
        return batch(argv[2], (size_t)strtoull(argv[3], NULL, 10));
    snprintf(name, sizeof name, "/%s", argv[2]);
    count = strtoull(argv[3], NULL, 10);
    fd = shm_open(name, rw ? O_RDWR : O_RDONLY, 0);
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror("shm_open");
        return 1;
    }
    base = mmap(NULL, (size_t)st.st_size, rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
                fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (strcmp(argv[1], "sub") == 0) {
        shm_view view;
        shm_subscriber sub;
        shm_doorbell bell;
        uint64_t next, received = 0, lost_total = 0, bad = 0, slow_us = 0;
        const char *err = plant_check(base, (size_t)st.st_size, &view);
        int r;
        if (err != NULL)
            return fail(SHM_ERR_CHECK, err);
        r = plant_events_subscribe(&view, &sub, msg, sizeof msg);
        if (r != SHM_OK)
            return fail(r, msg);
        if (argc > 4 && strcmp(argv[4], "oldest") == 0)
            shm_subscriber_start_oldest(&sub);
        next = sub.next;
        printf("subscribed at %llu\n", (unsigned long long)next);
        if (argc > 5 && strcmp(argv[5], "wait") == 0 && fgets(line, sizeof line, stdin) == NULL)
            return 1;
        if (argc > 6)
            slow_us = strtoull(argv[6], NULL, 10);
        if (argc > 7 && strcmp(argv[7], "doorbell") == 0) {
            if (shm_doorbell_attach(fd, &bell) != SHM_OK)
                return fail(SHM_ERR_SYSTEM, "no doorbell");
            sub.bell = &bell;
        }
        while (received + lost_total < count) {
            Event e;
            uint64_t lost = 0;
            r = plant_events_recv_timeout(&sub, &e, &lost, 10000, msg, sizeof msg);
            if (r == SHM_EMPTY)
                break;
            if (r == SHM_LOST) {
                lost_total += lost;
                next += lost;
            } else if (r == SHM_MSG) {
                if (!same(&e, next))
                    bad++;
                next = e.id + 1;
                received++;
                if (slow_us > 0)
                    shm_sleep_ns(slow_us * 1000u);
            } else {
                printf("received %llu lost %llu bad %llu\n", (unsigned long long)received,
                       (unsigned long long)lost_total, (unsigned long long)bad);
                return fail(r, msg);
            }
        }
        printf("received %llu lost %llu bad %llu\n", (unsigned long long)received,
               (unsigned long long)lost_total, (unsigned long long)bad);
        if (sub.bell != NULL)
            shm_doorbell_detach(&bell);
        return 0;
    }
    if (strcmp(argv[1], "consume") == 0) {
        shm_consumer c;
        uint32_t from = 0;
        uint64_t position, consumed = 0, bad = 0;
        int r = plant_commands_consumer_claim(&c, fd, base, (size_t)st.st_size, 0, &from, msg,
                                              sizeof msg);
        if (r != SHM_OK)
            return fail(r, msg);
        position = SHM_LOAD_RELAXED(c.region + SHM_QUEUE_HEAD);
        printf("claimed took_over_from=%lu position=%llu\n", (unsigned long)from,
               (unsigned long long)position);
        for (i = 0; i < count; i++) {
            Command e;
            r = plant_commands_recv_timeout(&c, &e, 10000, msg, sizeof msg);
            if (r == SHM_EMPTY)
                break;
            if (r != SHM_MSG)
                return fail(r, msg);
            if (!same_command(&e, position + i))
                bad++;
            consumed++;
        }
        printf("consumed %llu bad %llu\n", (unsigned long long)consumed, (unsigned long long)bad);
        if (argc > 4 && strcmp(argv[4], "hold") == 0) {
            Command e;
            do {
                r = plant_commands_peek(&c, &e, msg, sizeof msg);
                if (r == SHM_EMPTY)
                    shm_sleep_ns(1000000u);
            } while (r == SHM_EMPTY);
            if (r != SHM_MSG)
                return fail(r, msg);
            printf("peeked %llu\n", (unsigned long long)e.id);
            while (fgets(line, sizeof line, stdin) != NULL) {
            }
        }
        plant_commands_release(&c);
        return 0;
    }
    {
        shm_writer w;
        shm_takeover take;
        int r = plant_claim(&w, fd, base, (size_t)st.st_size, 5000, &take, msg, sizeof msg);
        if (r != SHM_OK)
            return fail(r, msg);
        printf("claimed\n");
        if (strcmp(argv[1], "pub") == 0) {
            if (argc > 4 && strcmp(argv[4], "wait") == 0
                && fgets(line, sizeof line, stdin) == NULL)
                return 1;
            for (i = 0; i < count; i++) {
                Event e = event(i);
                r = plant_events_publish(&w, &e, NULL, msg, sizeof msg);
                if (r != SHM_OK)
                    return fail(r, msg);
            }
            printf("published %llu\n", (unsigned long long)count);
            if (argc > 4 && strcmp(argv[4], "torn") == 0) {
                size_t at = 0;
                unsigned char *region, *slot;
                uint64_t h;
                r = shm_stream_region(&w.view, PLANT_EVENTS_REGION_OFFSET,
                                      PLANT_EVENTS_REGION_SIZE, &at, msg, sizeof msg);
                if (r != SHM_OK)
                    return fail(r, msg);
                region = w.base + at;
                h = SHM_LOAD_RELAXED(region);
                slot = region + SHM_RING_HEADER
                       + (size_t)(h & (PLANT_EVENTS_CAPACITY - 1u)) * (8u + sizeof(Event));
                SHM_STORE_RELEASE(slot, 2u * h + 1u);
                SHM_FENCE_RELEASE();
                SHM_STORE_RELAXED(slot + 8, UINT64_C(0xdead));
                printf("torn at %llu\n", (unsigned long long)h);
                while (fgets(line, sizeof line, stdin) != NULL) {
                }
            }
        } else {
            for (i = 0; i < count; i++) {
                Command e = command(i);
                r = plant_commands_send_timeout(&w, &e, 60000, NULL, msg, sizeof msg);
                if (r != SHM_OK)
                    return fail(r, msg);
            }
            printf("sent %llu\n", (unsigned long long)count);
        }
        shm_writer_release(&w);
    }
    return 0;
}
