package chart

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Soak is the result of one soak run: the load second by second, the
// faults, and the invariants' counts.
type Soak struct {
	Mode       string     `json:"mode"` // standalone, sentinel or cluster
	Date       string     `json:"date"`
	Setup      string     `json:"setup"` // e.g. "300 virtual users, about 200 requests/s through nginx over 3 instances"
	Seconds    []Second   `json:"seconds"`
	Faults     []Fault    `json:"faults"`
	Invariants Invariants `json:"invariants"`
}

// Second is one second of the run, by the time its requests started.
type Second struct {
	T           int     `json:"t"`           // seconds since the start
	Answered    int     `json:"answered"`    // answers 2xx, 3xx, 401 and 429
	Unavailable int     `json:"unavailable"` // 503 answers
	P99MS       float64 `json:"p99_ms"`      // p99 latency of the answered ones; 0: none
}

// Fault is one injected fault, in seconds since the start.
type Fault struct {
	Name     string  `json:"name"`     // what was done, in full
	Label    string  `json:"label"`    // a short name for the chart
	Start    float64 `json:"start"`    // when it was injected
	Healed   float64 `json:"healed"`   // when it was undone (the killed process restarted...)
	Recovery float64 `json:"recovery"` // seconds from Start until the service was back; 0: it never failed; -1: not back
}

// Invariants are the soak's own checks, counted over the run.
type Invariants struct {
	Answers       int   `json:"answers"`         // every answer
	Unavailable   int   `json:"unavailable"`     // 503 with Retry-After
	Bad           int   `json:"bad"`             // answers outside 2xx, 3xx, 401, 429, 503 + Retry-After
	Lost          int64 `json:"lost"`            // acknowledged writes lost, outside any stated window
	LostInWindow  int64 `json:"lost_in_window"`  // lost, acknowledged within a stated window
	Stale         int   `json:"stale"`           // sessions served after their logout or revoke, outside any window
	StaleInWindow int   `json:"stale_in_window"` // the same, within a stated window
	NotBack       int   `json:"not_back"`        // faults after which the service did not come back
}

func (*Soak) kind() string { return KindSoak }

// end returns the end of f's band.
func (f Fault) end() float64 {
	return max(f.Healed, f.Start+f.Recovery, f.Start+0.5)
}

func (f Fault) label() string {
	if f.Label != "" {
		return f.Label
	}
	return f.Name
}

// The series of the timeline.
var (
	answeredLine = draw.LineStyle{Color: navy, Width: 1.5}
	unavailLine  = draw.LineStyle{Color: red, Width: 1.5, Dashes: []vg.Length{4, 2}}
	p99Line      = draw.LineStyle{Color: darkGreen, Width: 1.2}
	darkGreen    = color.RGBA{0x1e, 0x6b, 0x3a, 0xff} // 40, 87
)

const (
	panelH    = vg.Length(170)
	labelSize = vg.Length(9)
)

// SVG draws two panels over time, answers and 503s per second above, p99
// latency below, with each fault as a grey band labelled above them.
func (s *Soak) SVG() ([]byte, error) {
	if len(s.Seconds) == 0 {
		return nil, errors.New("no second recorded: nothing to draw")
	}
	top, bottom := s.panels()
	// The label rows depend only on the x transform, which the height
	// does not change: a first layout at the final width gives it.
	trial := stack(top, bottom, draw.New(vgsvg.New(Width, 2*panelH)))
	rows := s.labelRows(top, trial[0])
	nrows := 0
	for _, r := range rows {
		nrows = max(nrows, r+1)
	}

	entries := []legendEntry{
		{label: "answers/s (2xx, 3xx, 401, 429)", line: &answeredLine},
		{label: "503/s (store unavailable)", line: &unavailLine},
		{label: "p99 latency of the answers (log scale)", line: &p99Line},
		{label: "fault, until service is back", fill: bandGrey},
	}
	legendH := legendHeight(entries)
	stripH := vg.Length(nrows)*lineHeight(labelSize) + 4
	capText := s.caption()
	capH := captionHeight(capText, Width)
	head := titleHeight() + legendH
	height := head + stripH + 2*panelH + capH
	return svgOf(Width, height, func(dc draw.Canvas) {
		title(dc, fmt.Sprintf("Soak, %s mode: load and faults over time", s.Mode))
		legend(draw.Crop(dc, 0, 0, 0, -titleHeight()), entries)
		caption(dc, capText)
		cs := stack(top, bottom, draw.Crop(dc, 0, 0, capH, -head-stripH))
		top.Draw(cs[0])
		bottom.Draw(cs[1])
		s.drawLabels(top, cs[0], rows, dc.Max.Y-head)
	})
}

// stack splits dc between the two panels, the top one without an x axis
// and the bottom one with it, so that their data areas have the same
// height and the same left and right edges.
func stack(top, bottom *plot.Plot, dc draw.Canvas) [2]draw.Canvas {
	const gap = vg.Length(8)
	// The bottom panel's x axis takes what its data area lacks.
	whole := draw.Crop(dc, 0, 0, 0, 0)
	probe := bottom.DataCanvas(whole)
	axis := probe.Min.Y - whole.Min.Y
	h := (dc.Size().Y - axis - gap) / 2
	cs := [2]draw.Canvas{
		draw.Crop(dc, 0, 0, h+axis+gap, 0),
		draw.Crop(dc, 0, 0, 0, -(h + gap)),
	}
	// The same left and right edges: the wider axis sets them.
	left, right := vg.Length(0), vg.Length(0)
	for i, p := range []*plot.Plot{top, bottom} {
		d := p.DataCanvas(cs[i])
		left = max(left, d.Min.X-cs[i].Min.X)
		right = max(right, cs[i].Max.X-d.Max.X)
	}
	for i, p := range []*plot.Plot{top, bottom} {
		d := p.DataCanvas(cs[i])
		cs[i] = draw.Crop(cs[i], left-(d.Min.X-cs[i].Min.X), -(right - (cs[i].Max.X - d.Max.X)), 0, 0)
	}
	return cs
}

// panels returns the two plots, with the bands in both.
func (s *Soak) panels() (top, bottom *plot.Plot) {
	end := float64(s.Seconds[len(s.Seconds)-1].T + 1)
	var answered, unavail plotter.XYs
	var p99 []plotter.XYs // runs of seconds with answers: no line across a second without
	maxRate := 0.0
	lo, hi := math.Inf(1), 0.0
	for i, sec := range s.Seconds {
		x := float64(sec.T)
		answered = append(answered, plotter.XY{X: x, Y: float64(sec.Answered)})
		unavail = append(unavail, plotter.XY{X: x, Y: float64(sec.Unavailable)})
		maxRate = max(maxRate, float64(sec.Answered), float64(sec.Unavailable))
		if sec.P99MS <= 0 {
			continue
		}
		if i == 0 || s.Seconds[i-1].P99MS <= 0 || len(p99) == 0 {
			p99 = append(p99, nil)
		}
		p99[len(p99)-1] = append(p99[len(p99)-1], plotter.XY{X: x, Y: sec.P99MS})
		lo, hi = min(lo, sec.P99MS), max(hi, sec.P99MS)
	}

	top = newPlot()
	top.Y.Label.Text = "per second"
	top.Y.Min, top.Y.Max = 0, maxRate*1.08
	top.X.Min, top.X.Max = 0, end
	top.Y.Tick.Marker = kTicks{}
	top.HideX() // the bottom panel's axis tells the time
	top.Add(bands{s.Faults})
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	g.Horizontal.Color = gridGrey
	top.Add(g)
	for _, l := range []struct {
		xys plotter.XYs
		sty draw.LineStyle
	}{{answered, answeredLine}, {unavail, unavailLine}} {
		line, err := plotter.NewLine(l.xys)
		if err == nil {
			line.LineStyle = l.sty
			top.Add(line)
		}
	}

	bottom = newPlot()
	bottom.X.Label.Text = "seconds since the start"
	bottom.X.Tick.Marker = ticksOf(8)
	bottom.Y.Label.Text = "p99, ms"
	bottom.X.Min, bottom.X.Max = 0, end
	bottom.Y.Scale = plot.LogScale{}
	bottom.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	bottom.Add(bands{s.Faults})
	if len(p99) > 0 {
		bottom.Y.Min, bottom.Y.Max = lo/1.5, hi*1.5
	}
	for _, run := range p99 {
		// A lone second is a dot: a line of one point draws nothing.
		if len(run) == 1 {
			run = append(run, plotter.XY{X: run[0].X + 0.3, Y: run[0].Y})
		}
		if line, err := plotter.NewLine(run); err == nil {
			line.LineStyle = p99Line
			bottom.Add(line)
		}
	}
	return top, bottom
}

// labelRows assigns each fault's label a row of the strip above the top
// panel (drawn on c), the first where it does not overlap the label before.
func (s *Soak) labelRows(top *plot.Plot, c draw.Canvas) []int {
	data := top.DataCanvas(c)
	trX, _ := top.Transforms(&data)
	sty := style(labelSize, black)
	var rights []vg.Length // per row, where its last label ends
	rows := make([]int, len(s.Faults))
	for i, f := range s.Faults {
		x := trX(f.Start)
		w := sty.Width(f.label())
		if x+w > data.Max.X+12 {
			x = data.Max.X + 12 - w // right-aligned at the edge: see drawLabels
		}
		r := 0
		for r < len(rights) && x < rights[r]+10 {
			r++
		}
		if r == len(rights) {
			rights = append(rights, 0)
		}
		rights[r] = x + w
		rows[i] = r
	}
	return rows
}

// drawLabels writes the labels in their rows, from y down, with a thin
// line from each down to its band.
func (s *Soak) drawLabels(top *plot.Plot, c draw.Canvas, rows []int, y vg.Length) {
	data := top.DataCanvas(c)
	trX, _ := top.Transforms(&data)
	sty := style(labelSize, black)
	sty.YAlign = text.YTop
	for i, f := range s.Faults {
		x := trX(f.Start)
		ly := y - vg.Length(rows[i])*lineHeight(labelSize)
		tx := x
		if w := sty.Width(f.label()); tx+w > data.Max.X+12 {
			tx = data.Max.X + 12 - w
		}
		c.FillText(sty, vg.Point{X: tx, Y: ly}, f.label())
		c.SetLineStyle(draw.LineStyle{Color: textGrey, Width: 0.5})
		var p vg.Path
		p.Move(vg.Point{X: x, Y: ly - lineHeight(labelSize) + 2})
		p.Line(vg.Point{X: x, Y: data.Max.Y})
		c.Stroke(p)
	}
}

// bands draws each fault as a grey band across the plot.
type bands struct{ faults []Fault }

func (b bands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	c.SetColor(bandGrey)
	for _, f := range b.faults {
		r := vg.Rectangle{Min: vg.Point{X: trX(f.Start), Y: c.Min.Y}, Max: vg.Point{X: max(trX(f.end()), trX(f.Start)+2), Y: c.Max.Y}}
		c.Fill(r.Path())
	}
}

func (s *Soak) caption() string {
	inv := s.Invariants
	var b strings.Builder
	fmt.Fprintf(&b, "%s. Invariants over the run: %d acknowledged writes lost", s.Setup, inv.Lost)
	if inv.LostInWindow > 0 {
		fmt.Fprintf(&b, " (and %d within the stated window of a master kill)", inv.LostInWindow)
	}
	fmt.Fprintf(&b, "; %d sessions served after their logout or revoke", inv.Stale)
	if inv.StaleInWindow > 0 {
		fmt.Fprintf(&b, " (and %d within the stated window)", inv.StaleInWindow)
	}
	fmt.Fprintf(&b, "; %d answers outside 2xx, 3xx, 401, 429 and 503 with Retry-After; %d faults without the service back", inv.Bad, inv.NotBack)
	fmt.Fprintf(&b, ". %s of %s answers were 503. Faults: ", thousands(float64(inv.Unavailable)), thousands(float64(inv.Answers)))
	for i, f := range s.Faults {
		if i > 0 {
			b.WriteString("; ")
		}
		back := "no failed probe"
		switch {
		case f.Recovery < 0:
			back = "service NOT back"
		case f.Recovery > 0:
			back = fmt.Sprintf("service back after %.1f s", f.Recovery)
		}
		fmt.Fprintf(&b, "at %.0f s, %s (%s)", f.Start, f.Name, back)
	}
	fmt.Fprintf(&b, ". %s.", s.Date)
	return b.String()
}
