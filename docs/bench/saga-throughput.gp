# Draws saga-throughput.svg from saga-throughput.dat: gnuplot saga-throughput.gp
set terminal svg size 720,440 dynamic enhanced font 'sans,12'
set output "saga-throughput.svg"
set title "cairn-bench saga: steps/s (one step: the instance's events and the commanded entity's, one transaction)" noenhanced
set xlabel "process instances" noenhanced
set ylabel "steps/s or events/s" noenhanced
set key outside bottom center horizontal noenhanced
set grid
set yrange [0:*]
set logscale x 10
plot "saga-throughput.dat" index 0 using 1:2 with linespoints lw 2 pt 7 title "Cairn, atomic steps", \
     "saga-throughput.dat" index 1 using 1:2 with linespoints lw 2 pt 7 title "Cairn, durable persist (reference)"
