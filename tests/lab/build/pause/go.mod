module nodenet.lab/pause

go 1.22
