/* run.c - runs the tests listed in test_list.h, each in a forked child, and
 * prints TAP followed by a "N passed, N failed" line.
 *
 *   run_tests            every test
 *   run_tests NAME...    only the named tests
 *
 * PX_TEST_NOFORK=1 runs the tests in this process (for a debugger); the
 * first failure then ends the run. PX_TEST_TIMEOUT sets the per-test limit
 * in seconds (default 60). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct {
    const char *name;
    void (*fn)(void);
} test_entry_t;

static const test_entry_t tests[] = {
#define PX_TEST_DECLARE(name) {#name, px_test_##name},
#include "test_list.h"
#undef PX_TEST_DECLARE
};

#define NTESTS (sizeof tests / sizeof tests[0])

/* Runs one test; returns 1 when it passed. */
static int run_one(const test_entry_t *t, int nofork, unsigned timeout)
{
    if (nofork) {
        t->fn();
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm(timeout);
        t->fn();
        fflush(stderr);
        exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        /* EINTR only: keep waiting */
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        printf("# %s: killed by signal %d (%s)\n", t->name, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else
        printf("# %s: exit status %d\n", t->name, WEXITSTATUS(status));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *env = getenv("PX_TEST_NOFORK");
    int nofork = env != NULL && *env != '\0' && strcmp(env, "0") != 0;
    env = getenv("PX_TEST_TIMEOUT");
    unsigned timeout = env ? (unsigned)strtoul(env, NULL, 10) : 60;

    const test_entry_t *sel[NTESTS];
    size_t n = 0;
    if (argc <= 1) {
        for (size_t i = 0; i < NTESTS; i++)
            sel[n++] = &tests[i];
    } else {
        for (int a = 1; a < argc; a++) {
            size_t i = 0;
            while (i < NTESTS && strcmp(tests[i].name, argv[a]) != 0)
                i++;
            if (i == NTESTS) {
                fprintf(stderr, "run_tests: no test named %s\n", argv[a]);
                return 2;
            }
            if (n < NTESTS)
                sel[n++] = &tests[i];
        }
    }

    printf("1..%zu\n", n);
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_one(sel[i], nofork, timeout)) {
            passed++;
            printf("ok %zu - %s\n", i + 1, sel[i]->name);
        } else {
            failed++;
            printf("not ok %zu - %s\n", i + 1, sel[i]->name);
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
