module acfgobaseline

go 1.19
