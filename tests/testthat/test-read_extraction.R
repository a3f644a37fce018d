# A SigProfilerExtractor 1.4.1 output folder (fixtures/spe-breast21.md says how it was made),
# unpacked into a temporary folder.
spe_folder <- function() {
  where <- tempfile("spe-")
  dir.create(where)
  utils::untar(testthat::test_path("fixtures", "spe-breast21.tar.gz"), exdir = where)
  file.path(where, "spe-breast21")
}

# A table file read here with utils::read.delim (independently of the package), first column
# as rownames.
read_table <- function(...) {
  table <- utils::read.delim(file.path(...), check.names = FALSE, stringsAsFactors = FALSE)
  values <- as.matrix(table[-1])
  rownames(values) <- table[[1]]
  values
}

test_that("a sigfactor folder reads back as the result that wrote it, to the files' precision", {
  skip_if_no_engine()
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  out <- tempfile("extraction-")
  res <- suppressWarnings(denovo_signatures(mm, ranks = 2:3, nrun = 5, seed = 2, max_iter = 300,
                                            verbose = FALSE, out = out, plots = FALSE))
  back <- read_extraction(out)
  expect_s3_class(back, "sigfactor_extraction")
  expect_identical(back$tool, "sigfactor")
  expect_identical(back$rank, res$rank)
  expect_identical(dimnames(back$signatures), dimnames(res$signatures))
  # Eight significant digits in the files.
  expect_equal(back$signatures, res$signatures, tolerance = 1e-7)
  # Activities are whole counts in the files.
  expect_identical(dimnames(back$contribution), dimnames(res$contribution))
  expect_true(all(abs(back$contribution - res$contribution) <= 0.5))
  expect_equal(back$reconstructed, back$signatures %*% back$contribution, tolerance = 1e-12)
  expect_identical(back$stats$rank, res$stats$rank)
  expect_identical(back$stats$chosen, res$stats$chosen)
  expect_identical(back$stats$considered, res$stats$considered)
  for (column in c("avg_stability", "min_stability", "median_sample_l2_pct", "mean_sample_kl")) {
    expect_lte(max(abs(back$stats[[column]] - res$stats[[column]])), 0.005)
  }
  expect_identical(back$cosmic[["De novo extracted"]], res$cosmic[["De novo extracted"]])
  expect_identical(back$cosmic[["Global NMF Signatures"]], res$cosmic[["Global NMF Signatures"]])
  expect_equal(back$cosmic_matches, res$cosmic_matches, tolerance = 1e-8)
  expect_equal(back$cosmic_signatures, res$cosmic_signatures, tolerance = 1e-7)
  expect_identical(names(back$solutions), names(res$solutions))
  expect_equal(back$solutions[["2"]]$signatures, res$solutions[["2"]]$signatures, tolerance = 1e-7)
  expect_equal(back$solutions[["2"]]$stability, res$solutions[["2"]]$stability, tolerance = 1e-3)
  expect_identical(back$seeds, res$seeds)
  expect_identical(back$versions, res$versions)
  expect_identical(back$selection_reason, res$selection_reason)
})

test_that("a SigProfilerExtractor folder reads into the same list, in MutationalPatterns' order", {
  skip_if_no_engine()
  dir <- spe_folder()
  res <- read_extraction(dir)
  expect_identical(res$tool, "SigProfilerExtractor")
  # SigProfilerExtractor starred rank 3 in All_solutions_stat.csv.
  expect_identical(res$rank, 3L)
  denovo <- file.path(dir, "SBS96", "Suggested_Solution", "SBS96_De-Novo_Solution")
  file <- read_table(denovo, "Signatures", "SBS96_De-Novo_Signatures.txt")
  mp_rows <- rownames(example_mut_matrix())
  expect_false(identical(rownames(file), mp_rows))
  expect_identical(rownames(res$signatures), mp_rows)
  expect_equal(res$signatures, file[mp_rows, ], tolerance = 1e-12)
  activities <- read_table(denovo, "Activities", "SBS96_De-Novo_Activities_refit.txt")
  storage.mode(activities) <- "double"
  expect_identical(res$contribution, t(activities))
  expect_identical(res$stats$rank, 2:3)
  expect_identical(res$stats$avg_stability, c(1.0, 0.97))
  expect_identical(res$stats$matrix_frobenius_pct, c(6.07, 6.45))
  expect_identical(res$stats$p_value, c(7.38e-03, NA))
  expect_identical(res$stats$chosen, c(FALSE, TRUE))
  expect_identical(res$cosmic[["De novo extracted"]], c("SBS96A", "SBS96B", "SBS96C"))
  expect_match(res$cosmic[["Global NMF Signatures"]][1], "^SBS1 \\(1.16%\\) & SBS2")
  expect_identical(colnames(res$cosmic_contribution), colnames(res$contribution))
  expect_identical(res$versions[["SigProfilerExtractor"]], "1.4.1")
  expect_null(res$seeds)
  expect_identical(dim(res$solutions[["2"]]$signatures), c(96L, 2L))
  expect_identical(res$solutions[["3"]]$stability, c(SBS96A = 1.0, SBS96B = 0.947, SBS96C = 0.959))
  # MutationalPatterns takes it as it is.
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  print(MutationalPatterns::plot_96_profile(res$signatures))
  print(MutationalPatterns::plot_contribution(res$contribution, res$signatures))
})

test_that("folders that are not extraction folders are refused in plain words", {
  skip_if_no_engine()
  missing <- file.path(tempdir(), "no-such-extraction")
  expect_error(read_extraction(missing),
               sprintf("dir = \"%s\" does not exist; expected an extraction folder.", missing),
               fixed = TRUE)
  empty <- tempfile("empty-")
  dir.create(empty)
  expect_error(read_extraction(empty), "holds no SBS96/, DBS78/ or ID83/ folder", fixed = TRUE)
  expect_error(read_extraction(spe_folder(), kind = "ID83"),
               "kind = \"ID83\" is not in dir", fixed = TRUE)
  broken <- spe_folder()
  unlink(file.path(broken, "SBS96", "Suggested_Solution"), recursive = TRUE)
  expect_error(read_extraction(broken), "SBS96_De-Novo_Signatures.txt' is missing", fixed = TRUE)
  expect_error(read_extraction(NA), "dir = NA is not valid", fixed = TRUE)
})
