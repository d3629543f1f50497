package chart

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Streams is the result of the long-connection run: how long each revoked
// user's event stream took to end after the logout was answered.
type Streams struct {
	Machine  string    `json:"machine"`
	Date     string    `json:"date"`
	Setup    string    `json:"setup"`     // e.g. "10,000 streams through nginx over 3 whatsup instances, held 60 s"
	Held     int       `json:"held"`      // streams held until the revoke
	Revoked  int       `json:"revoked"`   // users logged out everywhere
	EndMS    []float64 `json:"end_ms"`    // per stream that ended with "event: end": logout answer to end, ms
	Wrong    int       `json:"wrong"`     // streams of users not logged out that ended
	TargetMS float64   `json:"target_ms"` // every revoked stream should end within this
}

func (*Streams) kind() string { return KindStreams }

// percentile returns the p-th percentile (nearest rank) of sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// SVG draws a histogram of the end times with their p50 and p99 marked.
func (s *Streams) SVG() ([]byte, error) {
	if len(s.EndMS) == 0 {
		return nil, errors.New("no stream ended: nothing to draw")
	}
	sorted := slices.Sorted(slices.Values(s.EndMS))
	p50, p99, worst := percentile(sorted, 50), percentile(sorted, 99), sorted[len(sorted)-1]

	p := newPlot()
	p.X.Tick.Marker, p.Y.Tick.Marker = ticksOf(8), ticksOf(5)
	p.X.Label.Text = "milliseconds from the logout's answer to the stream's \"event: end\""
	p.Y.Label.Text = "streams"
	p.X.Min, p.Y.Min = 0, 0
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = gridGrey
	p.Add(grid)
	vals := make(plotter.Values, len(s.EndMS))
	copy(vals, s.EndMS)
	bins := 40
	h, err := plotter.NewHist(vals, bins)
	if err != nil {
		return nil, err
	}
	h.FillColor = navy
	h.LineStyle.Color = navy
	h.LineStyle.Width = 0.5
	p.Add(h)
	top := 0.0
	for _, b := range h.Bins {
		top = max(top, b.Weight)
	}
	p.Y.Max = top * 1.25
	p.X.Max = worst * 1.05
	p.Add(
		markLine{x: p50, label: fmt.Sprintf("p50 %.0f ms", p50), style: draw.LineStyle{Color: red, Width: 1.5, Dashes: []vg.Length{5, 3}}, row: 0},
		markLine{x: p99, label: fmt.Sprintf("p99 %.0f ms", p99), style: draw.LineStyle{Color: black, Width: 1.5, Dashes: []vg.Length{1.5, 2}}, row: 1},
	)

	within := 0
	for _, v := range s.EndMS {
		if s.TargetMS <= 0 || v <= s.TargetMS {
			within++
		}
	}
	capText := fmt.Sprintf("%s. %d of the %d streams of the users logged out everywhere ended with \"event: end\"; slowest %.0f ms",
		s.Setup, len(s.EndMS), s.Revoked, worst)
	if s.TargetMS > 0 {
		capText += fmt.Sprintf("; %d within the target of %.0f s", within, s.TargetMS/1000)
	}
	capText += fmt.Sprintf(". Streams of other users ended meanwhile: %d. %s, %s.", s.Wrong, s.Machine, s.Date)
	capH := captionHeight(capText, Width)
	height := titleHeight() + 280 + capH
	return svgOf(Width, height, func(dc draw.Canvas) {
		title(dc, "From a user's logout to the end of its event stream")
		caption(dc, capText)
		p.Draw(draw.Crop(dc, 0, -8, capH, -titleHeight()))
	})
}

// markLine is a vertical line at x across the plot, labelled at its top
// (row 0) or one text line below (row 1), so that close lines keep their
// labels apart.
type markLine struct {
	x     float64
	label string
	style draw.LineStyle
	row   int
}

func (m markLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.x)
	c.SetLineStyle(m.style)
	var path vg.Path
	path.Move(vg.Point{X: x, Y: c.Min.Y})
	path.Line(vg.Point{X: x, Y: c.Max.Y})
	c.Stroke(path)
	sty := style(10, black)
	sty.YAlign = text.YTop
	// Right of the line, or left of it when it is near the right edge.
	if x+4+sty.Width(m.label) > c.Max.X {
		sty.XAlign = text.XRight
		x -= 4
	} else {
		x += 4
	}
	y := c.Max.Y - 2 - vg.Length(m.row)*lineHeight(10)
	c.FillText(sty, vg.Point{X: x, Y: y}, m.label)
}
