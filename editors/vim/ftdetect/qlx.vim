" Qlynix models: *.qlx
autocmd BufNewFile,BufRead *.qlx setfiletype qlx
