/* Writes the benchmark inputs: geninput DIR writes DIR/NAME.in for every benchmark. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t state;

static uint8_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint8_t)(state >> 24);
}

static int write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.in", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[4096];
	const char *dir = argc > 1 ? argv[1] : ".";
	int err = 0;

	state = 0x1234567887654321ULL;
	for (int i = 0; i < 1024; i++)
		buf[i] = next();
	err |= write_file(dir, "log2", buf, 1024);
	err |= write_file(dir, "switch64", buf, 1024);
	err |= write_file(dir, "crc32", buf, 1024);

	memset(buf, 0, sizeof buf);
	err |= write_file(dir, "primes", buf, 16);

	state = 0x0badc0ffee15600dULL;
	for (int i = 0; i < 4096; i++)
		buf[i] = i < 2048 ? next() : 0;
	err |= write_file(dir, "memcpy", buf, 4096);

	/* Two equal NUL-free strings of 2047 bytes, differing in the last character. */
	state = 0x5eed5eed5eed5eedULL;
	for (int i = 0; i < 2047; i++) {
		uint8_t c = 'a' + next() % 26;
		buf[i] = c;
		buf[2048 + i] = c;
	}
	buf[2046] = 'x';
	buf[2048 + 2046] = 'q';
	buf[2047] = 0;
	buf[4095] = 0;
	err |= write_file(dir, "strcmp", buf, 4096);
	return err;
}
