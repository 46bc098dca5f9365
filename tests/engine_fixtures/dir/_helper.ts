throw new Error("files starting with '_' are not imported");
