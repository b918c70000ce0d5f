#include "common.h"
/* A 64-way switch on each of 1024 input bytes; every case updates the accumulator
 * differently, so the compiler cannot turn the switch into a table. */
static __always_inline __u64 switch64_core(__u8 *p, __u8 *end)
{
	__u64 acc = 0x9e3779b97f4a7c15ULL;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 1024; i++) {
		if (p + i + 1 > end)
			break;
		__u64 b = p[i];
		switch (b & 63) {
		case 0: acc += b * 21225u; break;
		case 1: acc ^= (acc << 21) + 25879u; break;
		case 2: acc = acc * 3167u + b; break;
		case 3: acc = (acc >> 18) | (acc << 46); break;
		case 4: acc -= (b << 4) ^ 6171u; break;
		case 5: acc ^= acc >> 2; acc += 38197u; break;
		case 6: acc = (acc ^ 59621u) * 3 + b; break;
		case 7: acc += (acc & 14073u) >> 3; break;
		case 8: acc += b * 5635u; break;
		case 9: acc ^= (acc << 3) + 27409u; break;
		case 10: acc = acc * 15775u + b; break;
		case 11: acc = (acc >> 14) | (acc << 50); break;
		case 12: acc -= (b << 3) ^ 3877u; break;
		case 13: acc ^= acc >> 4; acc += 37061u; break;
		case 14: acc = (acc ^ 62095u) * 3 + b; break;
		case 15: acc += (acc & 41331u) >> 1; break;
		case 16: acc += b * 38211u; break;
		case 17: acc ^= (acc << 19) + 37825u; break;
		case 18: acc = acc * 25999u + b; break;
		case 19: acc = (acc >> 8) | (acc << 56); break;
		case 20: acc -= (b << 2) ^ 3055u; break;
		case 21: acc ^= acc >> 5; acc += 56263u; break;
		case 22: acc = (acc ^ 18983u) * 3 + b; break;
		case 23: acc += (acc & 9457u) >> 5; break;
		case 24: acc += b * 7723u; break;
		case 25: acc ^= (acc << 18) + 20219u; break;
		case 26: acc = acc * 53489u + b; break;
		case 27: acc = (acc >> 4) | (acc << 60); break;
		case 28: acc -= (b << 3) ^ 38119u; break;
		case 29: acc ^= acc >> 7; acc += 41875u; break;
		case 30: acc = (acc ^ 24409u) * 3 + b; break;
		case 31: acc += (acc & 35899u) >> 3; break;
		case 32: acc += b * 4117u; break;
		case 33: acc ^= (acc << 20) + 3909u; break;
		case 34: acc = acc * 13501u + b; break;
		case 35: acc = (acc >> 18) | (acc << 46); break;
		case 36: acc -= (b << 1) ^ 28025u; break;
		case 37: acc ^= acc >> 15; acc += 20591u; break;
		case 38: acc = (acc ^ 38379u) * 3 + b; break;
		case 39: acc += (acc & 29703u) >> 6; break;
		case 40: acc += b * 19649u; break;
		case 41: acc ^= (acc << 6) + 52063u; break;
		case 42: acc = acc * 45813u + b; break;
		case 43: acc = (acc >> 3) | (acc << 61); break;
		case 44: acc -= (b << 2) ^ 37649u; break;
		case 45: acc ^= acc >> 16; acc += 34423u; break;
		case 46: acc = (acc ^ 57357u) * 3 + b; break;
		case 47: acc += (acc & 47807u) >> 2; break;
		case 48: acc += b * 18873u; break;
		case 49: acc ^= (acc << 3) + 64239u; break;
		case 50: acc = acc * 7741u + b; break;
		case 51: acc = (acc >> 6) | (acc << 58); break;
		case 52: acc -= (b << 3) ^ 49623u; break;
		case 53: acc ^= acc >> 30; acc += 9963u; break;
		case 54: acc = (acc ^ 32047u) * 3 + b; break;
		case 55: acc += (acc & 2573u) >> 2; break;
		case 56: acc += b * 5089u; break;
		case 57: acc ^= (acc << 19) + 36577u; break;
		case 58: acc = acc * 51717u + b; break;
		case 59: acc = (acc >> 11) | (acc << 53); break;
		case 60: acc -= (b << 7) ^ 22293u; break;
		case 61: acc ^= acc >> 20; acc += 22953u; break;
		case 62: acc = (acc ^ 32553u) * 3 + b; break;
		case 63: acc += (acc & 52229u) >> 2; break;
		}
	}
	return acc;
}
