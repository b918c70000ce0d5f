package maps

import "errors"

// ErrBadMapFile is returned for a map file that is not one, is damaged, or holds a map
// of another shape than the one asked for.
var ErrBadMapFile = errors.New("maps: bad map file")

// Map files: a header page, then the map's values exactly as the map keeps them in
// memory. The header holds a magic string, the format version, the spec's type, sizes,
// entry count and flags, the number of values per element (per-CPU maps), the size of
// the data, and a CRC-32 of all that.
const (
	mapFileMagic   = "anybpf\x00m"
	mapFileVersion = 1
	mapFileHeader  = 4096
)
