package wallet

import (
	"fmt"
	"strings"
)

// descriptorCharset is the BIP-380 input alphabet in its three groups of 32;
// a character's symbol is its position within its group, and the groups of
// every three characters are folded into one extra symbol.
const descriptorCharset = "0123456789()[],'/*abcdefgh@:$%{}" +
	"IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~" +
	"ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "

// checksumCharset is the bech32 alphabet the 8 checksum characters use.
const checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// checksumLen is the number of characters after the '#'.
const checksumLen = 8

// descsumPolymod feeds one 5-bit symbol into the BCH code of BIP-380.
func descsumPolymod(c uint64, val uint64) uint64 {
	top := c >> 35
	c = (c&0x7ffffffff)<<5 ^ val
	if top&1 != 0 {
		c ^= 0xf5dee51989
	}
	if top&2 != 0 {
		c ^= 0xa9fdca3312
	}
	if top&4 != 0 {
		c ^= 0x1bab10e32d
	}
	if top&8 != 0 {
		c ^= 0x3706b1677a
	}
	if top&16 != 0 {
		c ^= 0x644d626ffd
	}
	return c
}

// DescriptorChecksum returns the 8-character BIP-380 checksum of a
// descriptor given without its "#checksum" suffix. It fails on characters
// outside the descriptor alphabet.
func DescriptorChecksum(desc string) (string, error) {
	c := uint64(1)
	var group uint64
	groupLen := 0
	for i := 0; i < len(desc); i++ {
		pos := strings.IndexByte(descriptorCharset, desc[i])
		if pos < 0 {
			return "", fmt.Errorf("%w: character %d is not allowed in a descriptor", ErrMalformedKey, i)
		}
		c = descsumPolymod(c, uint64(pos&31))
		group = group*3 + uint64(pos>>5)
		groupLen++
		if groupLen == 3 {
			c = descsumPolymod(c, group)
			group, groupLen = 0, 0
		}
	}
	if groupLen > 0 {
		c = descsumPolymod(c, group)
	}
	for range checksumLen {
		c = descsumPolymod(c, 0)
	}
	c ^= 1
	var sum [checksumLen]byte
	for j := range sum {
		sum[j] = checksumCharset[(c>>(5*(7-j)))&31]
	}
	return string(sum[:]), nil
}

// splitChecksum separates a descriptor from its optional "#checksum" and
// verifies the checksum when one is present.
func splitChecksum(s string) (string, error) {
	body, sum, found := strings.Cut(s, "#")
	if !found {
		return s, nil
	}
	if len(sum) != checksumLen {
		return "", fmt.Errorf("%w: descriptor checksum must be %d characters after '#', got %d",
			ErrMalformedKey, checksumLen, len(sum))
	}
	want, err := DescriptorChecksum(body)
	if err != nil {
		return "", err
	}
	if sum != want {
		return "", fmt.Errorf("%w: descriptor checksum #%s does not match the descriptor; "+
			"copy the whole descriptor again from the wallet", ErrBadChecksum, sum)
	}
	return body, nil
}

// withChecksum appends "#" and the checksum to a descriptor.
func withChecksum(desc string) (string, error) {
	sum, err := DescriptorChecksum(desc)
	if err != nil {
		return "", err
	}
	return desc + "#" + sum, nil
}
