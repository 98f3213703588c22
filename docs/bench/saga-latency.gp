# Draws saga-latency.svg from saga-latency.dat: gnuplot saga-latency.gp
set terminal svg size 720,440 dynamic enhanced font 'sans,12'
set output "saga-latency.svg"
set title "cairn-bench saga: latency per step" noenhanced
set xlabel "process instances" noenhanced
set ylabel "ms" noenhanced
set key outside bottom center horizontal noenhanced
set grid
set yrange [*:*]
set logscale x 10
set logscale y 10
plot "saga-latency.dat" index 0 using 1:2 with linespoints lw 2 pt 7 title "atomic steps, p50", \
     "saga-latency.dat" index 1 using 1:2 with linespoints lw 2 pt 7 title "atomic steps, p99"
