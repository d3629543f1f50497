package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Kind tells what a [Reply] holds.
type Kind int

// The kinds of RESP2 replies.
const (
	KindNil    Kind = iota // a nil bulk string or nil array
	KindStatus             // a simple string such as OK or PONG, in Str
	KindError              // an error reply such as "ERR unknown command", in Str
	KindInt                // an integer, in Int
	KindBulk               // a bulk string, in Str
	KindArray              // an array, in Elems
)

var kindNames = [...]string{"nil", "status", "error", "int", "bulk", "array"}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Reply is one RESP2 reply. The zero value is a nil reply.
type Reply struct {
	Kind  Kind
	Str   string  // KindStatus, KindError, KindBulk
	Int   int64   // KindInt
	Elems []Reply // KindArray
}

// IsNil reports whether r is a nil bulk string or nil array.
func (r Reply) IsNil() bool { return r.Kind == KindNil }

// Err returns the error text of an error reply as an error, and nil for
// every other kind.
func (r Reply) Err() error {
	if r.Kind == KindError {
		return errors.New(r.Str)
	}
	return nil
}

// Strings returns the Str of each element of an array reply (nil elements
// give ""), or nil when r is not an array.
func (r Reply) Strings() []string {
	if r.Kind != KindArray {
		return nil
	}
	out := make([]string, len(r.Elems))
	for i, e := range r.Elems {
		out[i] = e.Str
	}
	return out
}

// String returns r in a readable form for test messages: "nil", "OK",
// "(error) ERR …", "(integer) 3", a quoted bulk string, or a bracketed list.
func (r Reply) String() string {
	switch r.Kind {
	case KindNil:
		return "nil"
	case KindStatus:
		return r.Str
	case KindError:
		return "(error) " + r.Str
	case KindInt:
		return "(integer) " + strconv.FormatInt(r.Int, 10)
	case KindBulk:
		return strconv.Quote(r.Str)
	case KindArray:
		parts := make([]string, len(r.Elems))
		for i, e := range r.Elems {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return r.Kind.String()
}

// conn is a minimal RESP2 client connection. It is not safe for concurrent
// use.
type conn struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// dial connects to addr and, when password is not empty, authenticates
// (as user, or as the default user when user is "").
// The whole exchange, and every later command on the connection, must end
// before deadline.
func dial(addr, user, password string, deadline time.Time) (*conn, error) {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(deadline)
	c := &conn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	if password != "" {
		args := []string{"AUTH", password}
		if user != "" {
			args = []string{"AUTH", user, password}
		}
		r, err := c.do(args...)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}

func (c *conn) Close() error { return c.nc.Close() }

// do sends one command and reads its reply. An error reply is a Reply of
// KindError, not an error; err is for I/O and protocol failures.
func (c *conn) do(args ...string) (Reply, error) {
	if len(args) == 0 {
		return Reply{}, errors.New("redistest: empty command")
	}
	fmt.Fprintf(c.bw, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.bw, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.bw.Flush(); err != nil {
		return Reply{}, err
	}
	return readReply(c.br)
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("redistest: malformed RESP line %q", line)
	}
	return line[:len(line)-2], nil
}

func readReply(br *bufio.Reader) (Reply, error) {
	line, err := readLine(br)
	if err != nil {
		return Reply{}, err
	}
	if line == "" {
		return Reply{}, errors.New("redistest: empty RESP line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return Reply{Kind: KindStatus, Str: body}, nil
	case '-':
		return Reply{Kind: KindError, Str: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return Reply{}, fmt.Errorf("redistest: bad RESP integer %q", body)
		}
		return Reply{Kind: KindInt, Int: n}, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return Reply{}, fmt.Errorf("redistest: bad RESP bulk length %q", body)
		}
		if n == -1 {
			return Reply{}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return Reply{}, err
		}
		return Reply{Kind: KindBulk, Str: string(buf[:n])}, nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return Reply{}, fmt.Errorf("redistest: bad RESP array length %q", body)
		}
		if n == -1 {
			return Reply{}, nil
		}
		r := Reply{Kind: KindArray, Elems: make([]Reply, n)}
		for i := range r.Elems {
			if r.Elems[i], err = readReply(br); err != nil {
				return Reply{}, err
			}
		}
		return r, nil
	}
	return Reply{}, fmt.Errorf("redistest: unknown RESP type in %q", line)
}
