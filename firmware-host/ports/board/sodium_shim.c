/* The two libsodium runtime hooks its verify path links against on a board without the rest
 * of libsodium's runtime (core.c / randombytes.c): misuse stops the device, and verification
 * never needs randomness, so asking for it is a misuse too. Not crypto. */
#include <stddef.h>

void sodium_misuse(void);
void randombytes_buf(void *buf, size_t size);

void sodium_misuse(void)
{
    for (;;) {}
}

void randombytes_buf(void *buf, size_t size)
{
    (void)buf;
    (void)size;
    sodium_misuse();
}
