/* Modbus TCP load generator: N client threads, each on its own connection, send
 * read-holding-registers requests back to back for a fixed time.
 *
 *   gcc -O2 -o modbus_load bench/modbus_load.c $(pkg-config --cflags --libs libmodbus) -lpthread
 *   ./modbus_load HOST PORT UNIT CLIENTS SECONDS COUNT STRIDE SPAN
 *
 * Client k starts at block k and steps through SPAN blocks of STRIDE registers,
 * reading COUNT registers at the start of each. Prints one line:
 *   requests=<ok> errors=<failed> seconds=<elapsed>
 */
#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct job {
    const char *host;
    int port, unit, seconds, count, stride, span, index;
    long ok, failed;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run(void *arg) {
    struct job *job = arg;
    uint16_t regs[125];
    modbus_t *ctx = modbus_new_tcp(job->host, job->port);
    if (ctx == NULL || modbus_set_slave(ctx, job->unit) != 0 || modbus_connect(ctx) != 0) {
        fprintf(stderr, "client %d: connect: %s\n", job->index, modbus_strerror(errno));
        job->failed = -1;
        return NULL;
    }
    modbus_set_response_timeout(ctx, 2, 0);
    double end = now_s() + job->seconds;
    long block = job->index;
    while (now_s() < end) {
        int address = (int)((block % job->span) * job->stride);
        if (modbus_read_registers(ctx, address, job->count, regs) == job->count) {
            job->ok++;
        } else {
            job->failed++;
        }
        block++;
    }
    modbus_close(ctx);
    modbus_free(ctx);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s HOST PORT UNIT CLIENTS SECONDS COUNT STRIDE SPAN\n", argv[0]);
        return 2;
    }
    int clients = atoi(argv[4]);
    struct job *jobs = calloc((size_t)clients, sizeof *jobs);
    pthread_t *threads = calloc((size_t)clients, sizeof *threads);
    double start = now_s();
    for (int k = 0; k < clients; k++) {
        jobs[k] = (struct job){argv[1], atoi(argv[2]), atoi(argv[3]), atoi(argv[5]),
                               atoi(argv[6]), atoi(argv[7]), atoi(argv[8]), k, 0, 0};
        pthread_create(&threads[k], NULL, run, &jobs[k]);
    }
    long ok = 0, failed = 0;
    for (int k = 0; k < clients; k++) {
        pthread_join(threads[k], NULL);
        if (jobs[k].failed < 0) return 1;
        ok += jobs[k].ok;
        failed += jobs[k].failed;
    }
    printf("requests=%ld errors=%ld seconds=%.3f\n", ok, failed, now_s() - start);
    free(jobs);
    free(threads);
    return 0;
}
