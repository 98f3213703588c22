# Draws actor-latency.svg from actor-latency.dat: gnuplot actor-latency.gp
set terminal svg size 720,440 dynamic enhanced font 'sans,12'
set output "actor-latency.svg"
set title "cairn-bench actor: p99 per round trip" noenhanced
set xlabel "clients (one request in flight each)" noenhanced
set ylabel "microseconds" noenhanced
set key outside bottom center horizontal noenhanced
set grid
set yrange [*:*]
set logscale x 10
set logscale y 10
plot "actor-latency.dat" index 0 using 1:2 with linespoints lw 2 pt 7 title "raw CAF actor, p99", \
     "actor-latency.dat" index 1 using 1:2 with linespoints lw 2 pt 7 title "Cairn, persisting entity, p99"
