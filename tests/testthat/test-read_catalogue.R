# A catalogue file bundled with the engine: 21 breast cancers, SigProfiler layout.
bundled_catalogue <- function() {
  package_dir <- dirname(reticulate::py_to_r(python_engine()$`__file__`))
  file.path(package_dir, "data", "catalogues", "breast21_SBS96.txt")
}

test_that("a SigProfiler file is read with MutationalPatterns' order and labels", {
  skip_if_no_engine()
  path <- bundled_catalogue()
  counts <- read_catalogue(path)
  table <- as.matrix(utils::read.delim(path, row.names = 1, check.names = FALSE))
  expect_true(is.matrix(counts) && is.double(counts))
  expect_identical(dim(counts), c(96L, 21L))
  expect_identical(rownames(counts), rownames(example_mut_matrix()))
  expect_identical(colnames(counts), colnames(table))
  storage.mode(table) <- "double"
  expect_identical(counts[rownames(table), ], table)
})

test_that("style = 'sigprofiler' keeps SigProfiler's order", {
  skip_if_no_engine()
  path <- bundled_catalogue()
  counts <- read_catalogue(path, style = "sigprofiler")
  canonical <- unlist(reticulate::py_to_r(python_engine()$channels$SBS96))
  expect_identical(rownames(counts), canonical)
  expect_identical(counts[rownames(example_mut_matrix()), ], read_catalogue(path))
})

test_that("a mut_matrix written as a table reads back unchanged", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  path <- tempfile(fileext = ".tsv")
  on.exit(unlink(path))
  utils::write.table(data.frame(MutationType = rownames(mm), mm, check.names = FALSE), path,
                     sep = "\t", quote = FALSE, row.names = FALSE)
  expect_identical(read_catalogue(path), mm)
})

test_that("bad paths and arguments give plain errors", {
  skip_if_no_engine()
  missing <- file.path(tempdir(), "no-such-catalogue.txt")
  error <- tryCatch(read_catalogue(missing), error = function(e) e)
  expect_match(conditionMessage(error), "no-such-catalogue.txt' does not exist; expected a catalogue file.",
               fixed = TRUE)
  expect_false(grepl("Traceback", conditionMessage(error)))
  expect_null(conditionCall(error))
  expect_error(read_catalogue(c("a.txt", "b.txt")),
               "path = c(\"a.txt\", \"b.txt\") is not valid; expected the path of a catalogue file.",
               fixed = TRUE)
  expect_error(read_catalogue(bundled_catalogue(), style = "pcawg"),
               "style = \"pcawg\" is not valid; expected one of \"mutationalpatterns\", \"sigprofiler\".",
               fixed = TRUE)
})

test_that("ID83 labels come back in MutationalPatterns' style and order, matched by label", {
  skip_if_no_engine()
  channels <- python_engine()$channels
  canonical <- unlist(reticulate::py_to_r(channels$ID83))
  styled <- unlist(reticulate::py_to_r(channels$to_style(as.list(canonical), "mutationalpatterns")))
  wanted <- unlist(reticulate::py_to_r(channels$order("ID83", "mutationalpatterns")))
  set.seed(1)
  counts <- matrix(rpois(83 * 3, 20), 83, 3, dimnames = list(canonical, c("s1", "s2", "s3")))
  shuffled <- counts[sample(83), ]
  path <- tempfile(fileext = ".txt")
  on.exit(unlink(path))
  utils::write.table(data.frame(MutationType = rownames(shuffled), shuffled), path, sep = "\t",
                     quote = FALSE, row.names = FALSE)
  read <- read_catalogue(path)
  expect_identical(rownames(read), wanted)
  expect_false(identical(wanted, canonical))
  storage.mode(counts) <- "double"
  expect_identical(read[styled, ], with_rownames(counts, styled))
  expect_identical(read_catalogue(path, style = "sigprofiler"), counts)
})
