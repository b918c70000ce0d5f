package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []byte
		rest string
		err  string
	}{
		{[]string{"hex", "01", "ff", "value", "1"}, []byte{1, 0xff}, "value 1", ""},
		{[]string{"hex", "01ff80"}, []byte{1, 0xff, 0x80}, "", ""},
		{[]string{"0x01", "0x02", "any"}, []byte{1, 2}, "any", ""},
		{[]string{"1", "2", "255"}, []byte{1, 2, 255}, "", ""},
		{[]string{"010"}, []byte{8}, "", ""}, // C's octal, as bpftool's strtoul
		{[]string{"256"}, nil, "", `"256" is not a byte`},
		{[]string{"hex", "zz"}, nil, "", `"zz" is not a byte`},
		{[]string{"value"}, nil, "", `"value" is not a byte`},
		{nil, nil, "", "missing bytes"},
	} {
		got, rest, err := parseBytes(c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseBytes(%q): %v, want error %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, c.want) || strings.Join(rest, " ") != c.rest {
			t.Errorf("parseBytes(%q) = %v, %q, %v; want %v, %q", c.args, got, rest, err, c.want, c.rest)
		}
	}
}

func TestSelectors(t *testing.T) {
	for _, c := range []struct {
		args []string
		what string
		err  string
	}{
		{[]string{"id", "3", "key"}, "MAP", ""},
		{[]string{"tag", "abcd"}, "PROG", ""},
		{[]string{"tag", "abcd"}, "MAP", "has no tag"},
		{[]string{"id"}, "PROG", "want PROG"},
		{[]string{"file.o"}, "MAP", "want MAP"},
	} {
		_, _, _, err := takeSelector(c.args, c.what)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("takeSelector(%q, %s): %v, want %q", c.args, c.what, err, c.err)
		}
	}
}
